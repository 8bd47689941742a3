using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Model;

namespace LlamaDist.Gpu;

/// <summary>
/// ILGPU's accelerators as a compute backend: the first CUDA device, the first OpenCL GPU, or ILGPU's CPU
/// accelerator (the same kernels on CPU threads). One context and accelerator per backend; the kernels are compiled
/// once when it is created; each session gets its own stream.
/// </summary>
public sealed class IlgpuBackend : IComputeBackend
{
    private readonly Context context;
    private bool disposed;

    private IlgpuBackend(ComputeBackendKind kind, Context context, Accelerator accelerator)
    {
        Kind = kind;
        this.context = context;
        Accelerator = accelerator;
        Kernels = new IlgpuKernels(accelerator);
    }

    public ComputeBackendKind Kind { get; }

    internal Accelerator Accelerator { get; }

    internal IlgpuKernels Kernels { get; }

    /// <summary>Called with a warning when weights of a type no kernel reads natively are converted to F16 at load.</summary>
    public Action<string>? Warning { get; set; }

    public ComputeDeviceInfo Device => new(Kind, Accelerator.Name,
        Accelerator is CPUAccelerator ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes : Accelerator.MemorySize, FreeMemory());

    /// <summary>
    /// Opens the device of <paramref name="kind"/> (Cuda, OpenCL or IlgpuCpu); <see cref="BackendUnavailableException"/>
    /// names what is missing when there is none.
    /// </summary>
    public static IlgpuBackend Create(ComputeBackendKind kind)
    {
        Context? context = null;
        try
        {
            switch (kind)
            {
                case ComputeBackendKind.Cuda:
                {
                    context = Context.Create(builder => builder.Cuda().EnableAlgorithms());
                    var devices = context.GetDevices<CudaDevice>();
                    if (devices.Count == 0)
                    {
                        throw new BackendUnavailableException(kind,
                            "No CUDA device is available: the NVIDIA driver's libcuda was not found or reports no device.");
                    }
                    return new IlgpuBackend(kind, context, devices[0].CreateAccelerator(context));
                }
                case ComputeBackendKind.OpenCL:
                {
                    // GPUs only: an OpenCL CPU driver (pocl and the like) would be slower than the CPU engine.
                    context = Context.Create(builder => builder.OpenCL(device => device.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU).EnableAlgorithms());
                    var devices = context.GetDevices<CLDevice>();
                    if (devices.Count == 0)
                    {
                        throw new BackendUnavailableException(kind,
                            "No OpenCL GPU is available: no OpenCL ICD (libOpenCL and a vendor driver) reports a GPU ILGPU supports.");
                    }
                    return new IlgpuBackend(kind, context, devices[0].CreateAccelerator(context));
                }
                case ComputeBackendKind.IlgpuCpu:
                {
                    // Groups of two threads: the group reductions and barriers run as on a GPU, while barriers
                    // among simulated threads stay cheap on a machine with few cores.
                    var device = new CPUDevice(2, 1, 1);
                    context = Context.Create(builder => builder.CPU(device).EnableAlgorithms());
                    return new IlgpuBackend(kind, context, context.GetDevices<CPUDevice>()[0].CreateAccelerator(context));
                }
                default:
                    throw new ArgumentOutOfRangeException(nameof(kind), kind, "The ILGPU backend runs Cuda, OpenCL or IlgpuCpu.");
            }
        }
        catch (BackendUnavailableException)
        {
            context?.Dispose();
            throw;
        }
        catch (Exception exception) when (exception is not ArgumentOutOfRangeException)
        {
            context?.Dispose();
            throw new BackendUnavailableException(kind, $"The {kind} backend could not start: {exception.Message}", exception);
        }
    }

    public IRangeForward Load(LlamaConfig config, LlamaWeights weights)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        var forward = new IlgpuRangeForward(this, config, weights);
        if (forward.ConvertedTypes.Count > 0)
        {
            Warning?.Invoke($"No {Kind} kernel reads {string.Join(", ", forward.ConvertedTypes)} weights in their own format; " +
                "they were converted to F16 on upload (more device memory, same results as dequantizing).");
        }
        return forward;
    }

    /// <summary>
    /// The planner's throughput figures for this device: a Q8_0 matrix × vector product the size of a 4096-wide layer
    /// (about 18 MB of weights; 1 MB on the CPU accelerator), run until 0.2 s have passed; returns (GFLOP/s, weight bytes streamed per second).
    /// </summary>
    public (double GigaFlops, double BytesPerSecond) MeasureThroughput()
    {
        // The simulated CPU accelerator gets a smaller matrix: its figure matters only relative to real devices.
        int rows = Kind == ComputeBackendKind.IlgpuCpu ? 256 : 4096;
        const int columns = 4096;
        long rowBytes = columns / 32 * 34L;
        var bytes = new byte[rows * rowBytes];
        // Scales of 1/1024 (0x1400 as half) and small quants: finite sums whatever the device's rounding.
        for (long block = 0; block < bytes.Length; block += 34)
        {
            bytes[block] = 0x00;
            bytes[block + 1] = 0x14;
            for (int i = 2; i < 34; i++)
            {
                bytes[block + i] = (byte)((block + i) % 7);
            }
        }
        using var weights = new DeviceMatrix(Core.Gguf.GgmlType.Q8_0, rows, columns, rowBytes, Accelerator.Allocate1D(bytes));
        using var x = Accelerator.Allocate1D<float>(columns);
        using var y = Accelerator.Allocate1D<float>(rows);
        x.MemSetToZero();
        var stream = Accelerator.DefaultStream;
        Kernels.MatMul(stream, weights, x.View, y.View, 1);
        stream.Synchronize();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int runs = 0;
        while (clock.Elapsed.TotalSeconds < 0.2 || runs < 3)
        {
            Kernels.MatMul(stream, weights, x.View, y.View, 1);
            stream.Synchronize();
            runs++;
        }
        double seconds = clock.Elapsed.TotalSeconds / runs;
        return (2.0 * rows * columns / seconds / 1e9, bytes.Length / seconds);
    }

    /// <summary>Throws <see cref="DeviceMemoryException"/> unless <paramref name="bytes"/> fit in the device's free memory.</summary>
    internal void RequireFree(long bytes, string what)
    {
        long free = FreeMemory();
        if (bytes > free)
        {
            throw new DeviceMemoryException(Accelerator.Name, bytes, free, what);
        }
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        Accelerator.Dispose();
        context.Dispose();
    }

    /// <summary>CUDA reports free memory; OpenCL only the total; the CPU accelerator has the process's memory.</summary>
    private long FreeMemory() => Accelerator switch
    {
        CudaAccelerator cuda => cuda.GetFreeMemory(),
        CPUAccelerator => Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - GC.GetGCMemoryInfo().MemoryLoadBytes),
        _ => Accelerator.MemorySize,
    };
}
