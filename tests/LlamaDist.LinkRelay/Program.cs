using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

// A TCP relay that delays every byte by a fixed one-way time in each direction, for emulating a link's latency
// where the kernel's netem is not available (rate limits come from tc tbf). Usage:
//   LlamaDist.LinkRelay --listen 10.77.0.11:61000 --target 127.0.0.1:50052 --delay-ms 2.5
// Each accepted connection gets its own connection to the target; data read on one side is written to the other
// once its arrival time plus the delay has passed, in order (per direction, a thread that blocks reading and one
// that sleeps until each chunk is due without spinning, see PreciseSleep, so sub-millisecond delays hold and the
// workers keep the cores). At most MaxQueuedChunks chunks wait per direction. Prints "listening <endpoint>" when
// ready; runs until killed.
var options = RelayOptions.Parse(args);
var listener = new TcpListener(options.Listen);
listener.Start(backlog: 64);
Console.WriteLine($"listening {listener.LocalEndpoint}");
Console.Out.Flush();
while (true)
{
    // Accepted and connected synchronously: a socket that saw an asynchronous call stays non-blocking, and its
    // blocking reads then go through the runtime's event loop and pool threads (see Relay).
    var client = listener.AcceptTcpClient();
    new Thread(() => Relay.Run(client, options)) { IsBackground = true, Name = "relay connection" }.Start();
}

internal sealed record RelayOptions(IPEndPoint Listen, IPEndPoint Target, TimeSpan Delay)
{
    public static RelayOptions Parse(string[] args)
    {
        IPEndPoint? listen = null, target = null;
        double delayMs = 0;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--listen": listen = IPEndPoint.Parse(args[i + 1]); break;
                case "--target": target = IPEndPoint.Parse(args[i + 1]); break;
                case "--delay-ms": delayMs = double.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"Unknown option {args[i]}; use --listen, --target and --delay-ms.");
            }
        }
        if (listen is null || target is null || delayMs < 0 || delayMs > 10_000)
        {
            throw new ArgumentException("Give --listen host:port, --target host:port and --delay-ms between 0 and 10000.");
        }
        return new RelayOptions(listen, target, TimeSpan.FromMilliseconds(delayMs));
    }
}

internal static class Relay
{
    private const int ChunkBytes = 64 << 10;
    private const int MaxQueuedChunks = 4096;

    public static void Run(TcpClient client, RelayOptions options)
    {
        using var inbound = client;
        using var outbound = new TcpClient();
        try
        {
            inbound.NoDelay = true;
            outbound.NoDelay = true;
            outbound.Connect(options.Target);
        }
        catch (Exception exception) when (exception is IOException or SocketException)
        {
            return;  // the target is not there: the inbound connection closes
        }
        // Both directions on threads of their own that block in the socket calls: the relay stands for a wire and
        // must cost the machine whose workers it sits between as little CPU as it can. Pumping with asynchronous
        // reads, a channel and pool threads cost 1-2 ms of CPU per relayed message (pool threads waking, and
        // spinning and yielding when they ran out of work), taken from the workers computing on the same cores.
        var up = StartPump(inbound.Client, outbound.Client, options.Delay);
        var down = StartPump(outbound.Client, inbound.Client, options.Delay);
        Task.WaitAny(up, down);
        // One side closed or reset: the other goes with it (both are disposed here, which ends the other pump).
    }

    private static Task StartPump(Socket source, Socket destination, TimeSpan delay)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long delayTicks = (long)(delay.TotalSeconds * Stopwatch.Frequency);
        var thread = new Thread(() =>
        {
            try
            {
                if (delayTicks == 0)
                {
                    CopyNow(source, destination);
                }
                else
                {
                    CopyDelayed(source, destination, delayTicks);
                }
            }
            catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException)
            {
                // One side closed or reset.
            }
            finally
            {
                try
                {
                    destination.Shutdown(SocketShutdown.Send);
                }
                catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
                {
                }
                done.TrySetResult();
            }
        })
        { IsBackground = true, Name = "relay pump" };
        thread.Start();
        return done.Task;
    }

    /// <summary>No delay: each read is written on at once, on the reading thread.</summary>
    private static void CopyNow(Socket source, Socket destination)
    {
        var buffer = new byte[ChunkBytes];
        int read;
        while ((read = source.Receive(buffer)) > 0)
        {
            SendAll(destination, buffer.AsSpan(0, read));
        }
    }

    /// <summary>
    /// A delay: this thread reads and queues each chunk with the time it is due; a writer thread sleeps until then
    /// (<see cref="PreciseSleep"/>) and writes it, in order. The two meet in a monitor, which blocks without spinning.
    /// </summary>
    private static void CopyDelayed(Socket source, Socket destination, long delayTicks)
    {
        var queue = new Queue<(long Due, byte[] Data, int Length)>();
        bool ended = false;         // the reader is done: the writer drains the queue and stops
        bool writerFailed = false;  // the destination failed: the reader stops too
        var writer = new Thread(() =>
        {
            PreciseSleep.PrepareThread();
            try
            {
                while (true)
                {
                    (long Due, byte[] Data, int Length) chunk;
                    lock (queue)
                    {
                        while (queue.Count == 0 && !ended)
                        {
                            Monitor.Wait(queue);
                        }
                        if (queue.Count == 0)
                        {
                            return;
                        }
                        chunk = queue.Dequeue();
                        Monitor.PulseAll(queue);  // room again for a reader held back by a full queue
                    }
                    PreciseSleep.Until(chunk.Due);
                    SendAll(destination, chunk.Data.AsSpan(0, chunk.Length));
                }
            }
            catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException)
            {
                lock (queue)
                {
                    writerFailed = true;
                    queue.Clear();
                    Monitor.PulseAll(queue);  // a reader waiting for room
                }
                try
                {
                    source.Shutdown(SocketShutdown.Both);  // a reader blocked in Receive
                }
                catch (Exception inner) when (inner is SocketException or ObjectDisposedException)
                {
                }
            }
        })
        { IsBackground = true, Name = "relay writer" };
        writer.Start();
        try
        {
            while (true)
            {
                var buffer = new byte[ChunkBytes];
                int read = source.Receive(buffer);
                if (read == 0)
                {
                    break;
                }
                lock (queue)
                {
                    while (queue.Count >= MaxQueuedChunks && !writerFailed)
                    {
                        Monitor.Wait(queue);
                    }
                    if (writerFailed)
                    {
                        return;
                    }
                    queue.Enqueue((Stopwatch.GetTimestamp() + delayTicks, buffer, read));
                    Monitor.PulseAll(queue);
                }
            }
        }
        finally
        {
            lock (queue)
            {
                ended = true;
                Monitor.PulseAll(queue);
            }
            writer.Join();  // everything read is written before the destination is shut down
        }
    }

    private static void SendAll(Socket destination, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            data = data[destination.Send(data)..];
        }
    }
}
