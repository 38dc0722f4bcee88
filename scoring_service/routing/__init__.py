"""One logical scoring service over many instances (decision 8, docs/decisions/).

Kafka is the only coordinator: `assignor` carries each instance's advertised
gRPC address through the consumer group's join and hands every member the
whole partition -> address table; `directory` keeps that table and which of
this instance's partitions have caught up; `forwarding` answers a call for an
owner held elsewhere by forwarding it to the holder; `group` joins the consumer
group with that assignor; `changelog` writes each commit to the group's compacted
changelog and restores from it, `assignment` restores gained partitions and tells
the directory; `standby` keeps warm copies of other instances' partitions;
`topic_setup` creates the topics and refuses existing ones that would lose data.
"""
