"""Zone Integration Server (ZIS): SIF 2.x zones over HTTPS with durable queues."""
