@{
    # The compiled cmdlets; the build lays them out under module/bin (ignored by git).
    RootModule           = 'module/bin/LlamaDist.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1f7c2e-3a52-4f8e-9a41-5d0b8c7e2b19'
    Author               = 'LlamaDist contributors'
    CompanyName          = 'LlamaDist'
    Copyright            = '(c) LlamaDist contributors. MIT licence.'
    Description          = 'Distributed LLM inference for GGUF models: split a model''s layers across machines and generate as if it were one.'
    # The binaries target .NET 10, which PowerShell runs on from 7.6.
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('module/LlamaDist.Format.ps1xml')
    CmdletsToExport      = @(
        'ConvertFrom-LlamaToken'
        'ConvertTo-LlamaQuantized'
        'ConvertTo-LlamaToken'
        'Get-LlamaCluster'
        'Get-LlamaModel'
        'Get-LlamaWorker'
        'Invoke-LlamaBenchmark'
        'Invoke-LlamaChat'
        'Invoke-LlamaPrompt'
        'Measure-LlamaPerplexity'
        'New-LlamaCluster'
        'New-LlamaTestModel'
        'New-LlamaWorkerCertificate'
        'Remove-LlamaCluster'
        'Start-LlamaWorker'
        'Stop-LlamaWorker'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('LLM', 'GGUF', 'llama', 'inference', 'distributed', 'llama.cpp', 'AI', 'PSEdition_Core', 'Linux', 'Windows', 'MacOS')
            ProjectUri   = 'https://github.com/LlamaDist/LlamaDist'
            LicenseUri   = 'https://github.com/LlamaDist/LlamaDist/blob/main/LICENSE'
            ReleaseNotes = @'
0.1.0
- Local inference on GGUF models (llama, Llama 3, Qwen 2/3, Phi-3/3.5, Gemma 2, Mistral families) with
  llama.cpp-matching tokenization, sampling, chat templates, perplexity and llama-bench style benchmarks.
- Distributed inference: Start-LlamaWorker, New-LlamaCluster and -Worker/-Cluster on the generating cmdlets
  split a model's layers across machines (cluster token, TLS and mutual TLS, leases and per-worker limits).
- ConvertTo-LlamaQuantized (llama-quantize types and K mixes), New-LlamaTestModel, token conversion.
- Help for every cmdlet (Get-Help <cmdlet> -Full, -Online) and the about_LlamaDist and
  about_LlamaDist_Distributed topics.
- Needs PowerShell 7.6 (.NET 10); the worker host needs the ASP.NET Core Runtime 10, and -Detached a dotnet
  host on PATH (errors with ErrorId RuntimeMissing name what to install).
'@
        }
    }
}
