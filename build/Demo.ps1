<#
.SYNOPSIS
    The README's demo: a prompt on the embedded default model, its text as it streams, then the timing object.
.NOTES
    The embedded model has random weights: its text is gibberish by design; the timings are real.
#>
$ErrorActionPreference = 'Stop'
$repositoryRoot = Split-Path $PSScriptRoot -Parent
Import-Module (Join-Path $repositoryRoot 'LlamaDist.psd1') -Force

$model = Join-Path $repositoryRoot 'module/Models/llama-2-tiny-random.gguf'
Get-LlamaModel -Path $model | Format-Table -AutoSize | Out-Host

Write-Host "Prompt: Once upon a time" -ForegroundColor Cyan
$result = Invoke-LlamaPrompt -Model $model -Prompt 'Once upon a time' -MaxTokens 32 -Temperature 0 -Stream
$result | Format-List Model, Prompt, Text, PromptTokens, PromptEvalMs, PromptTokensPerSecond, GeneratedTokens, EvalRuns,
    EvalMs, EvalTokensPerSecond, LoadMs, SampleMs, TotalMs, StopReason, Threads | Out-Host
