@{
    # The compiled cmdlets; the build lays them out under module/bin (ignored by git).
    RootModule           = 'module/bin/LlamaDist.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1f7c2e-3a52-4f8e-9a41-5d0b8c7e2b19'
    Author               = 'LlamaDist contributors'
    CompanyName          = 'LlamaDist'
    Copyright            = '(c) LlamaDist contributors. MIT licence.'
    Description          = 'Distributed LLM inference for GGUF models: split a model''s layers across machines and generate as if it were one.'
    PowerShellVersion    = '7.4'
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
            Tags       = @('LLM', 'GGUF', 'llama', 'inference', 'distributed')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
