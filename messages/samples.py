"""Complete, valid example messages of every kind the SLF exchanges.

Used by ``slf sif sample``, the golden tests, the conformance tests and the
benchmarks. The people and ids are invented; identifiers follow the Ohio
profile (district IRN, building IRN, SSID of two letters and seven digits).
"""

from __future__ import annotations

from typing import Callable

from . import versions
from .codes import ErrorCategory, RequestResponseCode, StatusCode
from .errors import Error
from .model import (
    Ack,
    AgentACL,
    Application,
    CancelRequests,
    Condition,
    ConditionGroup,
    Conditions,
    Event,
    GetMessage,
    GetZoneStatus,
    Header,
    Message,
    ObjectRef,
    Ping,
    Provide,
    Provision,
    Query,
    Register,
    Request,
    Response,
    SecureChannel,
    Sleep,
    Status,
    Subscribe,
    SystemControl,
    Unregister,
    Wakeup,
    new_guid,
    now_timestamp,
    object_refs,
)
from .objects import (
    Address,
    Code,
    Contact,
    Demographics,
    ExtendedElement,
    IdStatus,
    Language,
    Name,
    OtherCode,
    Race,
    RequestingAgencyId,
    SchoolInfo,
    Street,
    StudentLocator,
    StudentPersonal,
    StudentSchoolEnrollment,
)

ZIS_ID = "StateZIS"
LOCATOR_ID = "ITC01-StudentLocator"
RESOLVER_ID = "State-StudentResolver"
SIS_ID = "District043802-SIS"
DISTRICT_IRN = "043802"
BUILDING_IRN = "012345"
CONTEXTS = ("SIF_Default",)

SLF_OBJECTS = ("StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo")


class Samples:
    """Builds sample messages with injectable ids and clock (stable in golden tests)."""

    def __init__(self, version: str = versions.LATEST, *, ids: Callable[[], str] = new_guid,
                 clock: Callable[[], str] = now_timestamp) -> None:
        self.version = version
        self.ids = ids
        self.clock = clock
        self.transaction_id = ids()
        self.request_msg_id = ids()
        self.student_ref = ids()
        self.school_ref = ids()
        self.enrollment_ref = ids()

    # ------------------------------------------------------------- helpers
    def header(self, source: str, destination: str | None = None, *, contexts=CONTEXTS,
               security: bool = False) -> Header:
        return Header.new(source, destination, contexts=contexts,
                          security=SecureChannel() if security else None, ids=self.ids, clock=self.clock)

    def _m(self, cls: type[Message], source: str, destination: str | None = None, **fields) -> Message:
        contexts = fields.pop("contexts", CONTEXTS)
        return cls(header=self.header(source, destination, contexts=contexts), version=self.version, **fields)

    # ------------------------------------------------------------- objects
    def locator_request(self, id_status: str = IdStatus.REQUEST) -> StudentLocator:
        return StudentLocator(
            id_status=id_status,
            transaction_id=self.transaction_id,
            local_id="100234",
            student_personal_ref_id=self.student_ref,
            requesting_agency_ids=(
                RequestingAgencyId(type="LEA", value=DISTRICT_IRN),
                RequestingAgencyId(type="School", value=BUILDING_IRN),
            ),
            grade_level=Code(code="03"),
            names=(Name(type="04", last_name="Okafor", first_name="Amara", middle_name="Grace"),),
            demographics=Demographics(
                races=(Race(code="0998"),),
                hispanic_latino="No",
                gender="F",
                birth_date="2017-04-12",
                place_of_birth="Columbus",
                languages=(Language(code="eng"),),
            ),
            contacts=(
                Contact(
                    relationship=Code(code="1735"),  # a parent; code used in the SIF StudentLocator example
                    names=(Name(type="04", last_name="Okafor", first_name="Ngozi"),),
                ),
            ),
            effective_date="2026-08-19",
            extended_elements=(ExtendedElement(name="AdmissionReason", value="1"),),
        )

    def candidate(self, ssid: str, confidence: str, first: str, birth: str) -> StudentLocator:
        return StudentLocator(
            id_status=IdStatus.AMBIGUOUS,
            transaction_id=self.transaction_id,
            state_province_id=ssid,
            confidence=confidence,
            names=(Name(type="04", last_name="Okafor", first_name=first),),
            demographics=Demographics(gender="F", birth_date=birth),
        )

    def student_personal(self, *, with_ssid: bool = False) -> StudentPersonal:
        return StudentPersonal(
            ref_id=self.student_ref,
            local_id="100234",
            state_province_id="AB1234567" if with_ssid else None,
            name=Name(type="04", last_name="Okafor", first_name="Amara", middle_name="Grace"),
            demographics=Demographics(
                races=(Race(code="0998", other_codes=(OtherCode(codeset="Local", value="B"),)),),
                hispanic_latino="No",
                gender="F",
                birth_date="2017-04-12",
                place_of_birth="Columbus",
                languages=(Language(code="eng"),),
            ),
            addresses=(
                Address(type="0765", street=Street(line1="411 Elm Street"), city="Columbus",
                        state_province="OH", country="US", postal_code="43215"),
            ),
            extended_elements=(ExtendedElement(name="AdmissionReason", value="1"),),
        )

    def enrollment(self) -> StudentSchoolEnrollment:
        return StudentSchoolEnrollment(
            ref_id=self.enrollment_ref,
            student_personal_ref_id=self.student_ref,
            school_info_ref_id=self.school_ref,
            membership_type="Home",
            time_frame="Current",
            school_year="2027",
            entry_date="2026-08-19",
            entry_type=Code(code="1821"),
            grade_level=Code(code="03"),
        )

    def school(self) -> SchoolInfo:
        return SchoolInfo(ref_id=self.school_ref, local_id="12", state_province_id=BUILDING_IRN,
                          school_name="Maple Grove Elementary")

    # ------------------------------------------------------------- messages
    def register(self) -> Register:
        return self._m(
            Register, LOCATOR_ID, contexts=(),
            name="ITC01 Student Locator",
            versions=(self.version, "2.*"),
            max_buffer_size=1_048_576,
            mode="Pull",
            node_vendor="Student Locator Framework",
            node_version="0.1.0",
            application=Application(vendor="Student Locator Framework", product="Student Locator",
                                    version="0.1.0"),
        )

    def unregister(self) -> Unregister:
        return self._m(Unregister, LOCATOR_ID, contexts=())

    def provide(self) -> Provide:
        return self._m(Provide, RESOLVER_ID, contexts=(),
                       objects=(ObjectRef(object_name="StudentLocator", extended_query_support=False,
                                          contexts=CONTEXTS),))

    def subscribe(self) -> Subscribe:
        return self._m(Subscribe, LOCATOR_ID, contexts=(),
                       objects=tuple(ObjectRef(object_name=n, contexts=CONTEXTS) for n in SLF_OBJECTS))

    def provision(self) -> Provision:
        return self._m(
            Provision, LOCATOR_ID, contexts=(),
            subscribe_objects=object_refs(*SLF_OBJECTS),
            publish_change_objects=object_refs("StudentPersonal"),
            request_objects=object_refs("StudentLocator"),
        )

    def _event(self, obj, action: str) -> Event:
        return self._m(Event, SIS_ID, object_name=obj.TAG, action=action, objects=(obj,))

    def event_studentpersonal_add(self) -> Event:
        return self._event(self.student_personal(), "Add")

    def event_studentpersonal_change(self) -> Event:
        # Only the changed StateProvinceId matters; LocalId and Name ride along because the
        # data-model schemas make them mandatory even in a Change.
        full = self.student_personal()
        change = StudentPersonal(ref_id=self.student_ref, local_id=full.local_id,
                                 state_province_id="AB1234567", name=full.name)
        return self._m(Event, LOCATOR_ID, object_name="StudentPersonal", action="Change", objects=(change,))

    def event_studentschoolenrollment_add(self) -> Event:
        return self._event(self.enrollment(), "Add")

    def request_studentlocator(self) -> Request:
        """The condition form, as OpenADK-based agents send it."""
        conds = (
            Condition(element="@IdStatus", value="Request"),
            Condition(element="@TransactionId", value=self.transaction_id),
            Condition(element="LocalId", value="100234"),
            Condition(element='RequestingAgencyId[@Type="LEA"]', value=DISTRICT_IRN),
            Condition(element='RequestingAgencyId[@Type="School"]', value=BUILDING_IRN),
            Condition(element='Name[@Type="04"]/LastName', value="Okafor"),
            Condition(element='Name[@Type="04"]/FirstName', value="Amara"),
            Condition(element='Name[@Type="04"]/MiddleName', value="Grace"),
            Condition(element="Demographics/Gender", value="F"),
            Condition(element="Demographics/BirthDate", value="2017-04-12"),
            Condition(element="GradeLevel/Code", value="03"),
        )
        return self._m(
            Request, LOCATOR_ID,
            versions=(self.version,), max_buffer_size=1_048_576,
            query=Query(object_name="StudentLocator",
                        condition_group=ConditionGroup(type="None", conditions=(Conditions(type="And", conditions=conds),))),
        )

    def request_studentlocator_example(self) -> Request:
        return self._m(
            Request, LOCATOR_ID,
            versions=(self.version,), max_buffer_size=1_048_576,
            query=Query(object_name="StudentLocator", example=self.locator_request()),
        )

    def _response(self, **fields) -> Response:
        return self._m(Response, RESOLVER_ID, LOCATOR_ID, request_msg_id=self.request_msg_id, **fields)

    def response_studentlocator_valid(self) -> Response:
        found = StudentLocator(
            id_status=IdStatus.VALID, transaction_id=self.transaction_id, state_province_id="AB1234567",
            confidence="100", local_id="100234",
            requesting_agency_ids=(RequestingAgencyId(type="LEA", value=DISTRICT_IRN),),
        )
        return self._response(objects=(found,))

    def response_studentlocator_ambiguous(self) -> Response:
        return self._response(objects=(
            self.candidate("AB1234567", "92", "Amara", "2017-04-12"),
            self.candidate("CD7654321", "88", "Amarah", "2017-04-21"),
        ))

    def response_studentlocator_error(self) -> Response:
        failed = StudentLocator(
            id_status=IdStatus.ERROR, transaction_id=self.transaction_id, local_id="100234",
            error=Error(category=ErrorCategory.REQUEST_RESPONSE, code=1,
                        desc="Insufficient data: BirthDate is required",
                        extended_desc="Enter the student's birth date in the SIS; the change will "
                        "start a new lookup automatically."),
        )
        return self._response(objects=(failed,))

    def response_error(self) -> Response:
        return self._response(error=Error(
            category=ErrorCategory.REQUEST_RESPONSE, code=RequestResponseCode.UNSUPPORTED_QUERY,
            desc="Unsupported query in request",
            extended_desc="StudentLocator Cancel is not supported by this responder"))

    def ack_status(self) -> Ack:
        return self._m(Ack, LOCATOR_ID, ZIS_ID, contexts=(),
                       original_source_id=SIS_ID, original_msg_id=self.request_msg_id,
                       status=Status(code=StatusCode.IMMEDIATE))

    def ack_error(self) -> Ack:
        return self._m(Ack, ZIS_ID, LOCATOR_ID, contexts=(),
                       original_source_id=LOCATOR_ID, original_msg_id=self.request_msg_id,
                       error=Error(category=ErrorCategory.ACCESS, code=5,
                                   desc="No permission to request this object",
                                   extended_desc="Agent ITC01-StudentLocator may not request "
                                   "StaffPersonal in zone state-zone; ask the zone administrator "
                                   "to grant request rights"))

    def ack_getmessage_with_message(self) -> Ack:
        inner = self.request_studentlocator()
        return self._m(Ack, ZIS_ID, RESOLVER_ID, contexts=(),
                       original_source_id=RESOLVER_ID, original_msg_id=self.request_msg_id,
                       status=Status(code=StatusCode.SUCCESS, data=inner))

    def ack_no_messages(self) -> Ack:
        return self._m(Ack, ZIS_ID, RESOLVER_ID, contexts=(),
                       original_source_id=RESOLVER_ID, original_msg_id=self.request_msg_id,
                       status=Status(code=StatusCode.NO_MESSAGES, desc="No messages available"))

    def ack_agent_acl(self) -> Ack:
        acl = AgentACL(
            subscribe=tuple(ObjectRef(object_name=n, contexts=CONTEXTS) for n in SLF_OBJECTS),
            publish_change=(ObjectRef(object_name="StudentPersonal", contexts=CONTEXTS),),
            request=(ObjectRef(object_name="StudentLocator", contexts=CONTEXTS),),
        )
        return self._m(Ack, ZIS_ID, LOCATOR_ID, contexts=(), original_source_id=LOCATOR_ID,
                       original_msg_id=self.request_msg_id, status=Status(code=StatusCode.SUCCESS, data=acl))

    def _control(self, command) -> SystemControl:
        return self._m(SystemControl, LOCATOR_ID, contexts=(), command=command)

    def getmessage(self) -> SystemControl:
        return self._control(GetMessage())

    def ping(self) -> SystemControl:
        return self._control(Ping())

    def sleep(self) -> SystemControl:
        return self._control(Sleep())

    def wakeup(self) -> SystemControl:
        return self._control(Wakeup())

    def getzonestatus(self) -> SystemControl:
        return self._control(GetZoneStatus())

    def cancelrequests(self) -> SystemControl:
        if versions.key(self.version) < versions.key("2.1"):
            raise ValueError(
                f"SIF_CancelRequests exists from SIF 2.1 on; it cannot be sent as {self.version}"
                " (use --version 2.1 or later)")
        return self._control(CancelRequests(notification_type="Standard",
                                            request_msg_ids=(self.request_msg_id,)))


#: Every `slf sif sample` kind, mapped to its builder method.
KINDS: dict[str, str] = {
    "register": "register",
    "unregister": "unregister",
    "provide": "provide",
    "subscribe": "subscribe",
    "provision": "provision",
    "event-studentpersonal-add": "event_studentpersonal_add",
    "event-studentpersonal-change": "event_studentpersonal_change",
    "event-studentschoolenrollment-add": "event_studentschoolenrollment_add",
    "request-studentlocator": "request_studentlocator",
    "request-studentlocator-example": "request_studentlocator_example",
    "response-studentlocator-valid": "response_studentlocator_valid",
    "response-studentlocator-ambiguous": "response_studentlocator_ambiguous",
    "response-studentlocator-error": "response_studentlocator_error",
    "response-error": "response_error",
    "ack-status": "ack_status",
    "ack-error": "ack_error",
    "ack-getmessage-with-message": "ack_getmessage_with_message",
    "ack-no-messages": "ack_no_messages",
    "getmessage": "getmessage",
    "ping": "ping",
    "sleep": "sleep",
    "wakeup": "wakeup",
    "getzonestatus": "getzonestatus",
    "cancelrequests": "cancelrequests",
}


def sample(kind: str, version: str = versions.LATEST, **kw) -> Message:
    """One sample message; ValueError names the valid kinds or the version problem."""
    if kind not in KINDS:
        raise ValueError(f"unknown sample kind {kind!r}; choose one of: {', '.join(KINDS)}")
    versions.check_supported(version)
    return getattr(Samples(version, **kw), KINDS[kind])()
