/*
 * The lab's replacement for Apache Beam's ServerFactory, as flink-python 2.3 bundles it.
 *
 * Why: for a Python function that needs a worker process (pandas UDFs, Python aggregate
 * functions), the TaskManager opens six gRPC servers (control, data, state, logging,
 * artifact retrieval, provisioning) for that worker to connect to. Beam's factory builds
 * them with NettyServerBuilder.forPort(port): every interface of the machine, so anyone
 * who can reach the laptop could talk to a worker that runs pickled Python functions.
 * The worker is a child of the TaskManager on the same machine, so loopback is all it
 * needs. This class binds 127.0.0.1 and nothing else.
 *
 * How it is used: labkit (labkit/runtime/beam_loopback.py) compiles it against
 * flink-python's jar and puts it in a jar that comes before flink-python's on the
 * TaskManager's classpath, so the JVM loads this class instead of Beam's.
 *
 * Same package, class name and public methods that flink-python's classes call
 * (checked with javap): createDefault, createWithUrlFactory,
 * createWithUrlFactoryAndPortSupplier, createWithPortSupplier, allocateAddressAndCreate,
 * create and UrlFactory. Beam's Unix-domain and epoll factories are not called by
 * flink-python and are left out.
 */
package org.apache.beam.sdk.fn.server;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import org.apache.beam.model.pipeline.v1.Endpoints;
import org.apache.beam.sdk.fn.channel.SocketAddressFactory;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.BindableService;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ServerInterceptors;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.netty.NettyServerBuilder;

public abstract class ServerFactory {

    /** The keep-alive pings a worker may send, as often as the bundled factory allows. */
    private static final int KEEP_ALIVE_TIME_SEC = 19;

    public static ServerFactory createDefault() {
        return new Loopback(UrlFactory.createDefault(), () -> 0);
    }

    public static ServerFactory createWithUrlFactory(UrlFactory urlFactory) {
        return new Loopback(urlFactory, () -> 0);
    }

    public static ServerFactory createWithPortSupplier(Supplier<Integer> portSupplier) {
        return new Loopback(UrlFactory.createDefault(), portSupplier);
    }

    public static ServerFactory createWithUrlFactoryAndPortSupplier(
            UrlFactory urlFactory, Supplier<Integer> portSupplier) {
        return new Loopback(urlFactory, portSupplier);
    }

    /** Opens a server on a free port and writes its address into {@code descriptor}. */
    public abstract Server allocateAddressAndCreate(
            List<BindableService> services, Endpoints.ApiServiceDescriptor.Builder descriptor)
            throws IOException;

    /** Opens a server at the address {@code descriptor} names. */
    public abstract Server create(
            List<BindableService> services, Endpoints.ApiServiceDescriptor descriptor)
            throws IOException;

    /** Builds the URL a worker is told to connect to. */
    @FunctionalInterface
    public interface UrlFactory {
        String createUrl(String address, int port);

        static UrlFactory createDefault() {
            return (host, port) -> host + ":" + port;
        }
    }

    /** Servers on the loopback interface only, whatever address they are asked for. */
    static final class Loopback extends ServerFactory {
        private final UrlFactory urlFactory;
        private final Supplier<Integer> portSupplier;

        Loopback(UrlFactory urlFactory, Supplier<Integer> portSupplier) {
            this.urlFactory = urlFactory;
            this.portSupplier = portSupplier;
        }

        @Override
        public Server allocateAddressAndCreate(
                List<BindableService> services, Endpoints.ApiServiceDescriptor.Builder descriptor)
                throws IOException {
            InetAddress loopback = InetAddress.getLoopbackAddress();
            Server server = start(services, new InetSocketAddress(loopback, portSupplier.get()));
            descriptor.setUrl(urlFactory.createUrl(loopback.getHostAddress(), server.getPort()));
            return server;
        }

        @Override
        public Server create(
                List<BindableService> services, Endpoints.ApiServiceDescriptor descriptor)
                throws IOException {
            SocketAddress asked = SocketAddressFactory.createFrom(descriptor.getUrl());
            if (!(asked instanceof InetSocketAddress)) {
                throw new IllegalArgumentException(
                        "labkit's ServerFactory serves host:port addresses only, got " + descriptor.getUrl());
            }
            int port = ((InetSocketAddress) asked).getPort();
            return start(services, new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        }

        private static Server start(List<BindableService> services, InetSocketAddress address)
                throws IOException {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(address)
                    .maxInboundMessageSize(Integer.MAX_VALUE)
                    .permitKeepAliveTime(KEEP_ALIVE_TIME_SEC, TimeUnit.SECONDS);
            for (BindableService service : services) {
                // the header interceptor tells each service which worker is calling
                builder.addService(ServerInterceptors.intercept(
                        service, GrpcContextHeaderAccessorProvider.interceptor()));
            }
            return builder.build().start();
        }
    }
}
