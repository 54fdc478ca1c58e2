"""SIF 2.x status codes, error categories and error codes, with their meanings.

The numbers are the wire values (SIF_Status/SIF_Code, SIF_Error/SIF_Category,
SIF_Error/SIF_Code). Descriptions are short plain-language statements of each
code's meaning, written for log lines and for vendors reading the mock zone.
"""

from __future__ import annotations

from enum import IntEnum


class StatusCode(IntEnum):
    """SIF_Status/SIF_Code: the outcome of a successfully processed message."""

    SUCCESS = 0
    IMMEDIATE = 1
    INTERMEDIATE = 2
    FINAL = 3
    ALREADY_HAVE_MESSAGE = 7
    RECEIVER_SLEEPING = 8
    NO_MESSAGES = 9

    @property
    def description(self) -> str:
        return _STATUS_TEXT[self]


_STATUS_TEXT = {
    StatusCode.SUCCESS: "Success (sent by the ZIS only); SIF_Data may carry data",
    StatusCode.IMMEDIATE: "Immediate acknowledgement (agent only): the message is persisted "
    "or processed and may be discarded",
    StatusCode.INTERMEDIATE: "Intermediate acknowledgement (agent only, events only): "
    "Selective Message Blocking begins; keep the event and deliver no other events",
    StatusCode.FINAL: "Final acknowledgement (agent only): Selective Message Blocking ends; "
    "discard the event and resume event delivery",
    StatusCode.ALREADY_HAVE_MESSAGE: "Already have a message with this SIF_MsgId from you",
    StatusCode.RECEIVER_SLEEPING: "Receiver is sleeping",
    StatusCode.NO_MESSAGES: "No messages available",
}


class ErrorCategory(IntEnum):
    """SIF_Error/SIF_Category: the functional area in which an error happened."""

    UNKNOWN = 0
    XML_VALIDATION = 1
    ENCRYPTION = 2
    AUTHENTICATION = 3
    ACCESS = 4
    REGISTRATION = 5
    PROVISION = 6
    SUBSCRIPTION = 7
    REQUEST_RESPONSE = 8
    EVENT = 9
    TRANSPORT = 10
    SYSTEM = 11
    GENERIC = 12
    SMB = 13
    ZONE_SERVICE = 14

    @property
    def description(self) -> str:
        return _CATEGORY_TEXT[self]

    @property
    def codes(self) -> type[IntEnum] | None:
        """The enum of codes defined for this category (None for Unknown)."""
        return CODES_BY_CATEGORY.get(self)


_CATEGORY_TEXT = {
    ErrorCategory.UNKNOWN: "Unknown (should never be used if avoidable)",
    ErrorCategory.XML_VALIDATION: "XML Validation",
    ErrorCategory.ENCRYPTION: "Encryption",
    ErrorCategory.AUTHENTICATION: "Authentication",
    ErrorCategory.ACCESS: "Access and Permissions",
    ErrorCategory.REGISTRATION: "Registration",
    ErrorCategory.PROVISION: "Provision",
    ErrorCategory.SUBSCRIPTION: "Subscription",
    ErrorCategory.REQUEST_RESPONSE: "Request and Response",
    ErrorCategory.EVENT: "Event Reporting and Processing",
    ErrorCategory.TRANSPORT: "Transport",
    ErrorCategory.SYSTEM: "System (OS, database, vendor-specific)",
    ErrorCategory.GENERIC: "Generic Message Handling",
    ErrorCategory.SMB: "Selective Message Blocking Handling",
    ErrorCategory.ZONE_SERVICE: "SIF Zone Service (2.4 and later)",
}


class _Coded(IntEnum):
    """Base for per-category code enums; each member carries a description."""

    def __new__(cls, value: int, description: str):
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


class XmlValidationCode(_Coded):
    GENERIC = 1, "Generic XML error"
    NOT_WELL_FORMED = 2, "Message is not well-formed"
    GENERIC_VALIDATION = 3, "Generic validation error"
    INVALID_VALUE = 4, "Invalid value for element or attribute"
    MISSING_MANDATORY = 6, "Missing mandatory element or attribute"


class EncryptionCode(_Coded):
    GENERIC = 1, "Generic encryption error"


class AuthenticationCode(_Coded):
    GENERIC = 1, "Generic authentication error"
    GENERIC_SIGNATURE = 2, "Generic authentication error (with signature)"
    MISSING_SENDER_CERTIFICATE = 3, "Missing sender's certificate"
    INVALID_CERTIFICATE = 4, "Invalid certificate"
    CERTIFICATE_NOT_TRUSTED = 5, "Sender's certificate is not trusted"
    EXPIRED_CERTIFICATE = 6, "Expired certificate"
    INVALID_SIGNATURE = 7, "Invalid signature"
    INVALID_ENCRYPTION_ALGORITHM = 8, "Invalid encryption algorithm"
    MISSING_RECEIVER_PUBLIC_KEY = 9, "Missing public key of the receiver"
    MISSING_RECEIVER_PRIVATE_KEY = 10, "Missing private key of the receiver"


class AccessCode(_Coded):
    GENERIC = 1, "Generic access and permissions error"
    NO_REGISTER = 2, "No permission to register"
    NO_PROVIDE = 3, "No permission to provide this object"
    NO_SUBSCRIBE = 4, "No permission to subscribe to this SIF_Event"
    NO_REQUEST = 5, "No permission to request this object"
    NO_RESPOND = 6, "No permission to respond to this object request"
    NO_PUBLISH_EVENT = 7, "No permission to publish SIF_Event"
    NO_ADMINISTER = 8, "No permission to administer policies"
    SOURCE_NOT_REGISTERED = 9, "SIF_SourceId is not registered"
    NO_PUBLISH_ADD = 10, "No permission to publish SIF_Event Add"
    NO_PUBLISH_CHANGE = 11, "No permission to publish SIF_Event Change"
    NO_PUBLISH_DELETE = 12, "No permission to publish SIF_Event Delete"
    CODE_13 = 13, "Access error 13 (zone services, 2.4 and later)"
    CODE_14 = 14, "Access error 14 (zone services, 2.4 and later)"
    CODE_15 = 15, "Access error 15 (zone services, 2.4 and later)"


class RegistrationCode(_Coded):
    GENERIC = 1, "Generic registration error"
    INVALID_SOURCE_ID = 2, "The SIF_SourceId is invalid"
    PROTOCOL_UNSUPPORTED = 3, "Requested transport protocol is unsupported"
    VERSION_UNSUPPORTED = 4, "Requested SIF_Version(s) not supported"
    BUFFER_TOO_SMALL = 6, "Requested SIF_MaxBufferSize is too small"
    SECURE_TRANSPORT_REQUIRED = 7, "ZIS requires a secure transport"
    PUSH_MODE_REGISTERED = 9, "Agent is registered for push mode (returned when a push-mode "
    "agent sends SIF_GetMessage)"
    ACCEPT_ENCODING_UNSUPPORTED = 10, "Requested Accept-Encoding value is not supported"


class ProvisionCode(_Coded):
    GENERIC = 1, "Generic provision error"
    INVALID_OBJECT = 3, "Invalid object"
    ALREADY_PROVIDED = 4, "Object already has a provider (SIF_Provide only)"
    NOT_PROVIDER = 5, "Not the provider of the object (SIF_Unprovide only)"


class SubscriptionCode(_Coded):
    GENERIC = 1, "Generic subscription error"
    INVALID_OBJECT = 3, "Invalid object"
    NOT_SUBSCRIBER = 4, "Not a subscriber of the object (SIF_Unsubscribe only)"


class RequestResponseCode(_Coded):
    GENERIC = 1, "Generic request and response error"
    INVALID_OBJECT = 3, "Invalid object"
    NO_PROVIDER = 4, "No provider"
    VERSION_NOT_SUPPORTED = 7, "Responder does not support the requested SIF_Version"
    BUFFER_NOT_SUPPORTED = 8, "Responder does not support the requested SIF_MaxBufferSize"
    UNSUPPORTED_QUERY = 9, "Unsupported query in request"
    INVALID_REQUEST_MSG_ID = 10, "Invalid SIF_RequestMsgId specified in SIF_Response"
    RESPONSE_TOO_LARGE = 11, "SIF_Response is larger than the requested SIF_MaxBufferSize"
    INVALID_PACKET_NUMBER = 12, "SIF_PacketNumber is invalid in SIF_Response"
    VERSION_MISMATCH = 13, "SIF_Response does not match any SIF_Version from the SIF_Request"
    DESTINATION_MISMATCH = 14, "SIF_DestinationId does not match the SIF_SourceId of the SIF_Request"
    NO_EXTENDED_QUERY = 15, "No support for SIF_ExtendedQuery"
    REQUEST_TIMED_OUT = 16, "SIF_RequestMsgId deleted from cache due to timeout"
    DELETED_BY_ADMIN = 17, "SIF_RequestMsgId deleted from cache by administrator"
    CANCELLED_BY_REQUESTER = 18, "SIF_Request cancelled by the requesting agent"
    CODE_19 = 19, "Request and response error 19 (2.4 and later)"


class EventCode(_Coded):
    GENERIC = 1, "Generic event reporting and processing error"
    INVALID_EVENT = 3, "Invalid event"


class TransportCode(_Coded):
    GENERIC = 1, "Generic transport error"
    PROTOCOL_UNSUPPORTED = 2, "Requested protocol is not supported"
    NO_SECURE_PATH = 3, "Secure channel requested and no secure path exists"
    UNABLE_TO_CONNECT = 4, "Unable to establish a connection"


class SystemCode(_Coded):
    """Category 11 admits any code; 1 is the generic one."""

    GENERIC = 1, "Generic system error"


class GenericCode(_Coded):
    GENERIC = 1, "Generic message handling error"
    MESSAGE_NOT_SUPPORTED = 2, "Message not supported"
    VERSION_NOT_SUPPORTED = 3, "Version not supported"
    CONTEXT_NOT_SUPPORTED = 4, "Context not supported"
    PROTOCOL_ERROR = 5, "Protocol error"
    NO_SUCH_MESSAGE = 6, "No such message (as identified by SIF_OriginalMsgId)"
    MULTIPLE_CONTEXTS_NOT_SUPPORTED = 7, "Multiple contexts not supported"


class SmbCode(_Coded):
    GENERIC = 1, "Generic Selective Message Blocking error"
    SMB_ONLY_ON_LIVE_EVENT = 2, "Selective Message Blocking can only be invoked while "
    "acknowledging a SIF_Event that is being delivered"
    FINAL_ACK_FROM_PUSH_AGENT = 3, "Final SIF_Ack expected from a push-mode agent"
    INCORRECT_FINAL_ACK_MSG_ID = 4, "Incorrect SIF_MsgId in final SIF_Ack"


class ZoneServiceCode(_Coded):
    """Category 14 (2.4 and later): codes 1-18 belong to the zone-services chapter.

    This project does not implement SIF zone services; the codes are accepted and
    reported by number so that a 2.4+ peer's error is still shown faithfully.
    """

    GENERIC = 1, "Generic SIF zone service error"
    CODE_2 = 2, "SIF zone service error 2 (defined by the 2.4 zone services chapter)"
    CODE_3 = 3, "SIF zone service error 3 (defined by the 2.4 zone services chapter)"
    CODE_4 = 4, "SIF zone service error 4 (defined by the 2.4 zone services chapter)"
    CODE_5 = 5, "SIF zone service error 5 (defined by the 2.4 zone services chapter)"
    CODE_6 = 6, "SIF zone service error 6 (defined by the 2.4 zone services chapter)"
    CODE_7 = 7, "SIF zone service error 7 (defined by the 2.4 zone services chapter)"
    CODE_8 = 8, "SIF zone service error 8 (defined by the 2.4 zone services chapter)"
    CODE_9 = 9, "SIF zone service error 9 (defined by the 2.4 zone services chapter)"
    CODE_10 = 10, "SIF zone service error 10 (defined by the 2.4 zone services chapter)"
    CODE_11 = 11, "SIF zone service error 11 (defined by the 2.4 zone services chapter)"
    CODE_12 = 12, "SIF zone service error 12 (defined by the 2.4 zone services chapter)"
    CODE_13 = 13, "SIF zone service error 13 (defined by the 2.4 zone services chapter)"
    CODE_14 = 14, "SIF zone service error 14 (defined by the 2.4 zone services chapter)"
    CODE_15 = 15, "SIF zone service error 15 (defined by the 2.4 zone services chapter)"
    CODE_16 = 16, "SIF zone service error 16 (defined by the 2.4 zone services chapter)"
    CODE_17 = 17, "SIF zone service error 17 (defined by the 2.4 zone services chapter)"
    CODE_18 = 18, "SIF zone service error 18 (defined by the 2.4 zone services chapter)"


CODES_BY_CATEGORY: dict[ErrorCategory, type[_Coded]] = {
    ErrorCategory.XML_VALIDATION: XmlValidationCode,
    ErrorCategory.ENCRYPTION: EncryptionCode,
    ErrorCategory.AUTHENTICATION: AuthenticationCode,
    ErrorCategory.ACCESS: AccessCode,
    ErrorCategory.REGISTRATION: RegistrationCode,
    ErrorCategory.PROVISION: ProvisionCode,
    ErrorCategory.SUBSCRIPTION: SubscriptionCode,
    ErrorCategory.REQUEST_RESPONSE: RequestResponseCode,
    ErrorCategory.EVENT: EventCode,
    ErrorCategory.TRANSPORT: TransportCode,
    ErrorCategory.SYSTEM: SystemCode,
    ErrorCategory.GENERIC: GenericCode,
    ErrorCategory.SMB: SmbCode,
    ErrorCategory.ZONE_SERVICE: ZoneServiceCode,
}


def describe(category: int, code: int) -> str:
    """'8/4 Request and Response: No provider' style text for any pair, known or not."""
    try:
        cat = ErrorCategory(category)
    except ValueError:
        return f"{category}/{code} (unknown category)"
    enum = CODES_BY_CATEGORY.get(cat)
    text = f"code {code}"
    if enum is not None:
        try:
            text = enum(code).description
        except ValueError:
            pass
    return f"{category}/{code} {cat.description}: {text}"


def is_defined(category: int, code: int) -> bool:
    """True when the pair is one the specification defines (any code for System)."""
    try:
        cat = ErrorCategory(category)
    except ValueError:
        return False
    if cat is ErrorCategory.SYSTEM:
        return code >= 0
    enum = CODES_BY_CATEGORY.get(cat)
    if enum is None:
        return code == 0 or code == 1
    return code in enum._value2member_map_
