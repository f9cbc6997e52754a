// Package kafka runs Sluice pipelines over Apache Kafka: Kafka is then the distributed engine
// (docs/design.md, "Distribution over Kafka"). Processes started with the same application id
// form one consumer group and share the partitions of the source topic; each partition is a task
// that runs its own instance of the pipeline.
//
// A keyed stage reads a stream partitioned by its key. Source.PartitionedByKey declares that the
// topic's producer keyed its records with the key of the first KeyBy after the source (as
// kafka.NewProducer and every keyed Java producer partition: murmur2 of the key); that KeyBy then
// reads in place. Every other KeyBy writes through the repartition topic
// "<application>-<uid>-repartition" (uid: the UID of the keyed stage after it), created when
// missing, as Kafka Streams does: the pipeline is cut there into sub-topologies, and each
// (sub-topology, partition) is a task. Watermarks cross a repartition topic as marker records of
// each upstream task (WatermarkHeader, TaskHeader); a downstream task's watermark is the minimum
// over its upstream tasks, leaving out those idle for the source's idleness timeout.
//
// Exactly-once: every epoch (the commit interval, default 100 ms) is one Kafka transaction that
// holds the epoch's output records (repartition topics included), each touched task's state (a
// record in the compacted changelog topic "<application>-changelog", keyed by partition) and the
// consumed offsets. A
// transaction aborted by a rebalance rolls the tasks back to their last committed state; a
// partition that moves to another process is restored from the local snapshot in the state
// directory when it is current, else from the changelog. Consumers of the output must read with
// isolation level read_committed.
//
// Records that cannot be decoded, and output records larger than the broker accepts, go to the
// dead-letter topic "<application>-dlq" with their reason in the headers; nothing is dropped.
package kafka
