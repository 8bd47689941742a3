using Grpc.Core;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Worker.State;

/// <summary>
/// The coordinator's stream on which the last stage of a ring sends each step's output. The Forward call that
/// attached it stays open until the session ends (<see cref="Completion"/>), or fails with the status the
/// stage's own failure produced so the coordinator hears of it at once.
/// </summary>
internal sealed class ResultSink
{
    private readonly IServerStreamWriter<ForwardReply> writer;
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ResultSink(IServerStreamWriter<ForwardReply> writer) => this.writer = writer;

    public Task Completion => completion.Task;

    public Task WriteAsync(ForwardReply reply, CancellationToken cancellationToken) => writer.WriteAsync(reply, cancellationToken);

    public void Complete() => completion.TrySetResult();

    public void Fail(RpcException exception) => completion.TrySetException(exception);
}
