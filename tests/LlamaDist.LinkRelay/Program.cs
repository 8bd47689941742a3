using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

// A TCP relay that delays every byte by a fixed one-way time in each direction, for emulating a link's latency
// where the kernel's netem is not available (rate limits come from tc tbf). Usage:
//   LlamaDist.LinkRelay --listen 10.77.0.11:61000 --target 127.0.0.1:50052 --delay-ms 2.5
// Each accepted connection gets its own connection to the target; data read on one side is written to the other
// once its arrival time plus the delay has passed, in order (a dedicated thread per direction that sleeps until
// then without spinning, see PreciseSleep, so sub-millisecond delays hold and the workers keep the cores). At most
// MaxQueuedChunks chunks wait per direction. Prints "listening <endpoint>" when ready; runs until killed.
var options = RelayOptions.Parse(args);
var listener = new TcpListener(options.Listen);
listener.Start(backlog: 64);
Console.WriteLine($"listening {listener.LocalEndpoint}");
Console.Out.Flush();
while (true)
{
    var client = await listener.AcceptTcpClientAsync();
    _ = Task.Run(() => Relay.RunAsync(client, options));
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

    public static async Task RunAsync(TcpClient client, RelayOptions options)
    {
        using var inbound = client;
        using var outbound = new TcpClient();
        try
        {
            inbound.NoDelay = true;
            outbound.NoDelay = true;
            await outbound.ConnectAsync(options.Target);
            var up = Pump(inbound.GetStream(), outbound.GetStream(), options.Delay);
            var down = Pump(outbound.GetStream(), inbound.GetStream(), options.Delay);
            await Task.WhenAny(up, down);
        }
        catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException)
        {
            // One side closed or reset: the other goes with it (both are disposed here).
        }
    }

    /// <summary>Reads from <paramref name="source"/> and writes each chunk to <paramref name="destination"/> once its delay has passed.</summary>
    private static Task Pump(NetworkStream source, NetworkStream destination, TimeSpan delay)
    {
        var queue = Channel.CreateBounded<(long Due, byte[] Data, int Length)>(MaxQueuedChunks);
        long delayTicks = (long)(delay.TotalSeconds * Stopwatch.Frequency);
        var reader = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var buffer = new byte[ChunkBytes];
                    int read = await source.ReadAsync(buffer);
                    if (read == 0)
                    {
                        break;
                    }
                    await queue.Writer.WriteAsync((Stopwatch.GetTimestamp() + delayTicks, buffer, read));
                }
            }
            finally
            {
                queue.Writer.TryComplete();
            }
        });
        var writer = Task.Factory.StartNew(() =>
        {
            PreciseSleep.PrepareThread();
            try
            {
                while (queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    while (queue.Reader.TryRead(out var chunk))
                    {
                        PreciseSleep.Until(chunk.Due);
                        destination.Write(chunk.Data, 0, chunk.Length);
                    }
                }
            }
            finally
            {
                destination.Socket.Shutdown(SocketShutdown.Send);
            }
        }, TaskCreationOptions.LongRunning);
        return Task.WhenAll(reader, writer);
    }
}
