using Spectre.Console;

namespace Mmg.Commands;

/// <summary>Spectre.Console progress bars for training and for job lists.</summary>
internal static class ProgressBars
{
    public static T Run<T>(IAnsiConsole console, string title, Func<IProgress<TrainingStatus>, T> work)
    {
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var progress = new SyncProgress<TrainingStatus>(s =>
                {
                    if (!tasks.TryGetValue(s.Phase, out var t))
                    {
                        t = ctx.AddTask(Markup.Escape(s.Phase), maxValue: Math.Max(1, s.TotalSteps));
                        tasks[s.Phase] = t;
                    }
                    t.Value = s.Step;
                    t.Description = Markup.Escape($"{s.Phase}  step {s.Step}/{s.TotalSteps}  loss {s.Loss:0.0000}  {s.ItersPerSecond:0} it/s");
                });
                result = work(progress);
                foreach (var t in tasks.Values) t.StopTask();
            });
        return result;
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> action) : IProgress<T>
    {
        public void Report(T value) => action(value);
    }
}
