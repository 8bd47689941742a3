<#
.SYNOPSIS
    The README's demo, the main job: two workers on loopback, the embedded model split across them, a prompt
    whose text streams as it is generated, then the timing object and the per-worker table.
.NOTES
    The workers are embedded (hosted in this process) and bound to 127.0.0.1 on free ports; they stop at the end.
    The embedded model has random weights: its text is gibberish by design; the timings are real.
#>
$ErrorActionPreference = 'Stop'
$repositoryRoot = Split-Path $PSScriptRoot -Parent
Import-Module (Join-Path $repositoryRoot 'LlamaDist.psd1') -Force

$model = Join-Path $repositoryRoot 'module/Models/llama-2-tiny-random.gguf'
Get-LlamaModel -Path $model | Format-Table -AutoSize | Out-Host

$cacheRoot = Join-Path ([IO.Path]::GetTempPath()) "llamadist-demo-$PID"
$workers = 1, 2 | ForEach-Object {
    Start-LlamaWorker -Port 0 -Threads 1 -Name "demo-worker-$_" -CacheDirectory (Join-Path $cacheRoot "worker-$_")
}
try {
    Write-Host 'Workers' -ForegroundColor Cyan
    $workers | Format-Table -AutoSize | Out-Host

    $cluster = New-LlamaCluster -Model $model -Worker $workers
    Write-Host "Cluster $($cluster.Id): $($cluster.Model) split $($cluster.Split)" -ForegroundColor Cyan
    $cluster.Nodes | Format-Table -AutoSize | Out-Host

    Write-Host 'Prompt: Once upon a time' -ForegroundColor Cyan
    $result = Invoke-LlamaPrompt -Cluster $cluster -Prompt 'Once upon a time' -MaxTokens 32 -Temperature 0 -Stream
    $result | Format-List Model, Prompt, Text, PromptTokens, PromptEvalMs, PromptTokensPerSecond, GeneratedTokens, EvalRuns,
        EvalMs, EvalTokensPerSecond, LoadMs, SampleMs, TotalMs, StopReason, WorkerCount | Out-Host
    Write-Host 'Per worker' -ForegroundColor Cyan
    $result.Workers | Format-Table -AutoSize | Out-Host
    $cluster | Remove-LlamaCluster
}
finally {
    $workers | Stop-LlamaWorker
    Remove-Item -Recurse -Force $cacheRoot -ErrorAction SilentlyContinue
}
