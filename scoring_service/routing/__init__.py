"""One logical scoring service over many instances (decision 8, docs/decisions/).

Kafka is the only coordinator: `assignor` carries each instance's advertised
gRPC address through the consumer group's join and hands every member the
whole partition -> address table; `directory` keeps that table and which of
this instance's partitions have caught up; `forwarding` answers a call for an
owner held elsewhere by forwarding it to the holder.
"""
