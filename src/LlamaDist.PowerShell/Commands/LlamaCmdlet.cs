using System.Management.Automation;
using LlamaDist.Engine.Errors;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// What every LlamaDist cmdlet shares: a cancellation token that Ctrl+C (StopProcessing) trips, progress that
/// writes a fresh ProgressRecord per update, and the mapping of engine errors to ErrorRecords with stable ErrorIds.
/// </summary>
public abstract class LlamaCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource cancellation = new();

    protected CancellationToken CancellationToken => cancellation.Token;

    /// <summary>The same token, for helpers outside the cmdlet class.</summary>
    internal CancellationToken Cancellation => cancellation.Token;

    protected override void StopProcessing() => cancellation.Cancel();

    /// <summary>Runs engine work; engine errors become ErrorRecords, cancellation stops the pipeline.</summary>
    /// <param name="terminating">True when nothing useful can follow (the model failed to load); a missing runtime always is.</param>
    protected void RunEngine(Action work, object? target, bool terminating = false)
    {
        try
        {
            work();
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (LlamaDistException exception)
        {
            var record = new ErrorRecord(exception, ErrorIds.For(exception.Kind), ErrorIds.CategoryFor(exception.Kind), exception.Target ?? target);
            // A missing runtime fails every later record the same way: stop the pipeline at the first.
            if (terminating || exception.Kind == LlamaErrorKind.RuntimeMissing) ThrowTerminatingError(record);
            else WriteError(record);
        }
    }

    /// <summary>An IProgress that writes progress on the pipeline thread (the engine reports synchronously).</summary>
    protected IProgress<double> CreateProgress(int activityId, string activity, string status) =>
        new CmdletProgress(this, activityId, activity, status);

    protected void CompleteProgress(int activityId, string activity) =>
        WriteProgress(new ProgressRecord(activityId, activity, "Done") { RecordType = ProgressRecordType.Completed });

    /// <summary>Provider paths (wildcards, PSDrives, relative paths) to file-system paths.</summary>
    protected string ResolveSinglePath(string path) =>
        SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    public void Dispose()
    {
        DisposeResources();
        cancellation.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what a cmdlet holds across records (a loaded model).</summary>
    protected virtual void DisposeResources()
    {
    }

    private sealed class CmdletProgress(LlamaCmdlet cmdlet, int activityId, string activity, string status) : IProgress<double>
    {
        private int lastPercent = -1;

        public void Report(double value)
        {
            var percent = (int)Math.Clamp(value * 100, 0, 100);
            if (percent == lastPercent) return;
            lastPercent = percent;
            cmdlet.WriteProgress(new ProgressRecord(activityId, activity, status) { PercentComplete = percent });
        }
    }
}
