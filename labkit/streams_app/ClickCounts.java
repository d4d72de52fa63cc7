// Clicks per user in tumbling event-time windows, with Apache Kafka Streams.
//
// Kafka Streams is a library: this file is the whole application. labkit compiles it once
// (javac) and starts it as a plain Java process, `java -cp <kafka-streams jars> ClickCounts
// app.properties`; a second process with the same application.id shares the work.

import java.io.FileInputStream;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;

public class ClickCounts {
    public static void main(String[] args) throws Exception {
        // application.id, bootstrap.servers, state.dir, ... and the four settings below
        Properties config = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            config.load(in);
        }
        String input = config.getProperty("clicks.topic");
        String output = config.getProperty("counts.topic");
        Duration size = Duration.ofSeconds(Long.parseLong(config.getProperty("window.seconds")));
        Duration grace = Duration.ofSeconds(Long.parseLong(config.getProperty("grace.seconds")));

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String())) // key: user_id, value: JSON
                .groupByKey() // a user's clicks are already in one partition: no repartitioning
                .windowedBy(TimeWindows.ofSizeAndGrace(size, grace)) // event time: each record's timestamp
                .count(Materialized.as("click-counts")) // a local state store + its changelog topic
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded())
                        .withName("final-counts")) // one final result per window, once it has closed
                .toStream()
                .map((window, clicks) -> KeyValue.pair(window.key(), String.format(
                        "{\"user_id\":\"%s\",\"window_start\":%d,\"window_end\":%d,\"clicks\":%d}",
                        window.key(), window.window().start(), window.window().end(), clicks)))
                .to(output, Produced.with(Serdes.String(), Serdes.String()));

        KafkaStreams streams = new KafkaStreams(builder.build(), config);
        // labkit reads these lines from the log: the app's state and the tasks it runs
        streams.setStateListener((now, before) -> {
            StringBuilder tasks = new StringBuilder();
            if (now == KafkaStreams.State.RUNNING) {
                streams.metadataForLocalThreads().forEach(thread -> thread.activeTasks()
                        .forEach(task -> tasks.append(' ').append(task.taskId())));
            }
            System.out.println("STATE " + now + " " + System.currentTimeMillis() + tasks);
        });
        // SIGTERM (labkit stops it): close cleanly and leave the group, so the partitions
        // move to the other instances at once instead of after the session timeout
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(
                CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                        .withTimeout(Duration.ofSeconds(10)))));
        streams.start();
    }
}
