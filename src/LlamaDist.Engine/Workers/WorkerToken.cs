using LlamaDist.Distributed.Security;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Workers;

/// <summary>Cluster tokens as users supply them: a token file's first line, checked like any token.</summary>
public static class WorkerToken
{
    /// <summary>The token in <paramref name="path"/>; InvalidArgument when the file is unreadable, empty or the token malformed.</summary>
    public static string ReadFile(string path)
    {
        try
        {
            return ClusterToken.ReadFile(path);
        }
        catch (Exception exception) when (exception is ArgumentException or IOException or UnauthorizedAccessException)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Cannot use the token file {path}: {exception.Message}", path, exception);
        }
    }
}
