// Package kafka runs Sluice pipelines over Apache Kafka: Kafka is then the distributed engine
// (docs/design.md, "Distribution over Kafka"). Processes started with the same application id
// form one consumer group and share the partitions of the source topic; each partition is a task
// that runs its own instance of the pipeline, so a keyed stage must read a topic partitioned by
// its key (producers keyed with Kafka's murmur2 partitioner, as ProduceOnly and every Java
// producer do).
//
// Exactly-once: every epoch (the commit interval, default 100 ms) is one Kafka transaction that
// holds the epoch's output records, each touched task's state (a record in the compacted
// changelog topic "<application>-changelog", keyed by partition) and the consumed offsets. A
// transaction aborted by a rebalance rolls the tasks back to their last committed state; a
// partition that moves to another process is restored from the local snapshot in the state
// directory when it is current, else from the changelog. Consumers of the output must read with
// isolation level read_committed.
//
// Records that cannot be decoded, and output records larger than the broker accepts, go to the
// dead-letter topic "<application>-dlq" with their reason in the headers; nothing is dropped.
package kafka
