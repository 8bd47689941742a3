namespace LlamaDist.Worker.State;

/// <summary>
/// Which files a worker may open for a LoadRange: only inside its own model roots (--model-path: a file, or a
/// directory searched by plain file name) and its cache. The coordinator's worker_path is followed only by a
/// worker that has no model path of its own and listens on loopback (the coordinator is then on the same
/// machine, and the path is its own); everywhere else it is ignored. A path the caller names is "untrusted": any
/// failure to use it answers exactly as a missing file does, so a caller learns nothing about files it cannot use.
/// </summary>
internal sealed class ModelFileLocator(string? modelPath, bool trustCoordinatorPaths)
{
    /// <summary>A file to try, and whether failures may be reported in detail (the worker's own model files).</summary>
    public readonly record struct Candidate(string Path, bool Own);

    public IEnumerable<Candidate> Candidates(string coordinatorPath, string fileName)
    {
        if (!string.IsNullOrEmpty(modelPath))
        {
            if (Directory.Exists(modelPath))
            {
                // A plain name in the directory: no separators, no "." or "..", nothing a caller can steer elsewhere.
                if (IsPlainFileName(fileName))
                {
                    yield return new Candidate(Path.Combine(modelPath, fileName), Own: true);
                }
            }
            else
            {
                yield return new Candidate(modelPath, Own: true);
            }
            yield break;
        }
        if (trustCoordinatorPaths && !string.IsNullOrEmpty(coordinatorPath) && coordinatorPath.Length <= 4096
            && Path.IsPathFullyQualified(coordinatorPath) && !coordinatorPath.Contains('\0'))
        {
            yield return new Candidate(coordinatorPath, Own: false);
        }
    }

    public static bool IsPlainFileName(string name) =>
        name.Length is > 0 and <= 255 && name is not ("." or "..") && name.IndexOfAny(['/', '\\', '\0']) < 0
        && !name.Any(char.IsControl);
}
