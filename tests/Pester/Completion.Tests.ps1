# Tab completion of parameter values, through TabExpansion2 as the console calls it.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    function Get-Completion([string] $Line) {
        @((TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches | ForEach-Object CompletionText)
    }
    $script:Models = Join-Path $TestDrive 'my models'
    $null = New-Item -ItemType Directory -Path (Join-Path $script:Models 'sub dir')
    Copy-Item $EmbeddedModel (Join-Path $script:Models 'tiny one.gguf')
    Copy-Item $EmbeddedModel (Join-Path $script:Models 'tiny.gguf')
    Set-Content -Path (Join-Path $script:Models 'notes.txt') -Value 'not a model'
    Push-Location $TestDrive
    $script:Worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'completion-worker'
    $script:Cluster = New-LlamaCluster -Model $EmbeddedModel -Worker $script:Worker
}

AfterAll {
    Pop-Location
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | Stop-LlamaWorker
}

Describe 'Closed sets' {
    It 'completes <Line>' -ForEach @(
        @{ Line = 'New-LlamaCluster -Split '; Expected = 'Auto', 'Even', 'Memory', 'Tensor', 'Hybrid' }
        @{ Line = 'Invoke-LlamaPrompt -Worker a:1 -Split M'; Expected = , 'Memory' }
        @{ Line = 'Invoke-LlamaBenchmark -Model m.gguf -Worker a:1 -Split e'; Expected = , 'Even' }
        @{ Line = 'ConvertTo-LlamaQuantized -Type Q4_K'; Expected = 'Q4_K_S', 'Q4_K_M' }
        @{ Line = 'New-LlamaTestModel -Type Q5'; Expected = 'Q5_0', 'Q5_1', 'Q5_K' }
        @{ Line = 'New-LlamaCluster -ActivationEncoding '; Expected = 'F32', 'F16', 'Q8_0' }
        @{ Line = 'Invoke-LlamaPrompt -WeightMemory '; Expected = 'Auto', 'Mapped', 'Resident' }
        @{ Line = 'Invoke-LlamaChat -ChatTemplate mistral-v3'; Expected = 'mistral-v3', 'mistral-v3-tekken' }
        @{ Line = 'New-LlamaTestModel -Architecture Qw'; Expected = 'Qwen2', 'Qwen3' }
    ) {
        Get-Completion $Line | Sort-Object | Should -Be ($Expected | Sort-Object)
    }
}

Describe 'Model paths' {
    It 'offers GGUF files and folders, not other files, relative to the current location, quoted when they have spaces' {
        Get-Completion 'Get-LlamaModel -Path my' | Should -Be @("'my models$([IO.Path]::DirectorySeparatorChar)'")
        $inFolder = Get-Completion "Invoke-LlamaPrompt -Model 'my models/"
        $inFolder | Should -Be @("'my models/sub dir$([IO.Path]::DirectorySeparatorChar)'", "'my models/tiny one.gguf'", "'my models/tiny.gguf'")
    }

    It 'completes absolute paths and keeps the quote the user opened' {
        $absolute = Join-Path $script:Models 'tiny'
        Get-Completion "Measure-LlamaPerplexity -Model `"$absolute" | Should -Be @("`"$absolute one.gguf`"", "`"$absolute.gguf`"")
        Get-Completion "ConvertTo-LlamaQuantized -Path '$absolute o" | Should -Be @("'$absolute one.gguf'")
    }

    It 'completes paths under ~, keeping the ~ as typed' -Skip:$IsWindows {
        # .NET reads the home folder from HOME on Unix; on Windows from the profile, which a test cannot point elsewhere.
        $savedHome = $env:HOME
        try {
            $env:HOME = $script:Models
            Get-Completion 'Get-LlamaModel ~/tiny.' | Should -Be @('~/tiny.gguf')
        }
        finally {
            $env:HOME = $savedHome
        }
    }

    It 'completes the model parameter of <Command>' -ForEach @(
        @{ Command = 'Get-LlamaModel -Path' }, @{ Command = 'Invoke-LlamaPrompt -Model' }, @{ Command = 'Invoke-LlamaChat -Model' },
        @{ Command = 'Invoke-LlamaBenchmark -Model' }, @{ Command = 'Measure-LlamaPerplexity -Model' }, @{ Command = 'New-LlamaCluster -Model' },
        @{ Command = 'ConvertTo-LlamaQuantized -Path' }, @{ Command = 'ConvertTo-LlamaToken -Model' }, @{ Command = 'ConvertFrom-LlamaToken -Model' },
        @{ Command = 'Start-LlamaWorker -ModelPath' }, @{ Command = 'New-LlamaTestModel -VocabFrom' }
    ) {
        Get-Completion "$Command 'my models/tiny." | Should -Be @("'my models/tiny.gguf'")
    }
}

Describe 'Workers and clusters of the session' {
    It 'completes worker endpoints for <Command>' -ForEach @(
        @{ Command = 'Get-LlamaWorker -Endpoint' }, @{ Command = 'Stop-LlamaWorker -Endpoint' }, @{ Command = 'New-LlamaCluster -Worker' },
        @{ Command = 'Invoke-LlamaPrompt -Worker' }, @{ Command = 'Invoke-LlamaBenchmark -Model m.gguf -Worker' }
    ) {
        Get-Completion "$Command 127.0.0.1:" | Should -Contain $script:Worker.Endpoint
        Get-Completion "$Command 192.0.2." | Should -BeNullOrEmpty
    }

    It 'completes worker names' {
        Get-Completion 'Stop-LlamaWorker -Name completion-' | Should -Be @('completion-worker')
        Get-Completion 'Get-LlamaWorker -Name completion-' | Should -Be @('completion-worker')
    }

    It 'completes cluster ids, and -Cluster takes the id' {
        foreach ($line in 'Get-LlamaCluster -Id ', 'Remove-LlamaCluster -Id ', 'Remove-LlamaCluster -Cluster ', 'Invoke-LlamaPrompt -Cluster ', 'Invoke-LlamaBenchmark -Cluster ') {
            Get-Completion $line | Should -Be @($script:Cluster.Id)
        }
        (Invoke-LlamaPrompt -Cluster $script:Cluster.Id -Prompt 'Hi' -MaxTokens 2 -Temperature 0).GeneratedTokens | Should -Be 2
        Get-ErrorIdOf { Invoke-LlamaPrompt -Cluster 'no-such-cluster' -Prompt 'Hi' } | Should -Be 'ParameterArgumentTransformationError'
    }
}
