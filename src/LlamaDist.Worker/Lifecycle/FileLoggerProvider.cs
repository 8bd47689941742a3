using System.Globalization;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// Writes the worker's log to a <see cref="RotatingLogFile"/>, one line per entry:
/// "2026-12-04T13:20:01.234Z info LlamaDist.Worker.Service.WorkerService: Handshake from ..." (and the exception
/// on the following lines). Used for detached workers, which have no console.
/// </summary>
public sealed class FileLoggerProvider : ILoggerProvider
{
    private readonly RotatingLogFile file;

    public FileLoggerProvider(RotatingLogFile file) => this.file = file;

    public ILogger CreateLogger(string categoryName) => new FileLogger(file, categoryName);

    public void Dispose()
    {
        // The file belongs to whoever created it; it outlives the host so start-up failures can still be written.
    }

    private sealed class FileLogger(RotatingLogFile file, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            var text = formatter(state, exception);
            if (exception is not null)
            {
                text += Environment.NewLine + exception;
            }
            file.WriteLine($"{DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)} {Level(logLevel)} {category}: {text}");
        }

        private static string Level(LogLevel level) => level switch
        {
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            LogLevel.Critical => "crit",
            _ => level.ToString().ToLowerInvariant(),
        };
    }
}
