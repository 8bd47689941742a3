# The format views: every table fits 80 columns with its key headers whole, list views show what tables leave out,
# and sizes are binary units everywhere.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    # Tiny (2 layers): its 64- and 192-wide rows fit no 256-block, a quick conversion whose K tensors all fall back.
    $script:Tiny = Join-Path $TestDrive 'tiny-f32.gguf'
    $null = New-LlamaTestModel -Path $script:Tiny -Preset Tiny -Type F32 -Seed 5
    $script:Quantized = ConvertTo-LlamaQuantized -Path $script:Tiny -Destination (Join-Path $TestDrive 'tiny-q4km.gguf') -Type Q4_K_M
    $script:W1 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'format-1'
    $script:W2 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'format-2'
    $script:Cluster = New-LlamaCluster -Model $script:Tiny -Worker $script:W1, $script:W2 -Split 1,1
    $script:Distributed = Invoke-LlamaPrompt -Cluster $script:Cluster -Prompt 'Once upon a time' -MaxTokens 4 -Temperature 0
    $script:Local = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 4 -Temperature 0 -Threads 1
    $script:Chat = Invoke-LlamaChat -Model $EmbeddedModel -ChatTemplate chatml -Message 'Hi' -MaxTokens 3 -Temperature 0 -Threads 1
    $text = Join-Path $TestDrive 'text.txt'
    Set-Content -Path $text -Value ('The quick brown fox jumps over the lazy dog. ' * 8)
    $script:Perplexity = Measure-LlamaPerplexity -Model $EmbeddedModel -Path $text -ContextSize 16 -Threads 1
    $script:Benchmark = Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 2 -Repetitions 1 -Threads 1
    $script:Status = Get-LlamaWorker -Endpoint $script:W1.Endpoint

    function Get-View([object[]] $InputObject, [switch] $List) {
        $view = if ($List) { $InputObject | Format-List | Out-String -Width 80 } else { $InputObject | Format-Table | Out-String -Width 80 }
        # Out-String pads nothing beyond the width, so any line longer than 80 is a view that does not fit.
        $view -split "`r?`n"
    }
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | Stop-LlamaWorker
}

Describe 'Table views at 80 columns' {
    It '<Name> fits 80 columns with its key headers whole' -ForEach @(
        @{ Name = 'LlamaModelInfo'; Objects = { Get-LlamaModel -Path $script:Tiny, $EmbeddedModel }; Headers = 'File', 'Arch', 'Type', 'Params', 'Size', 'Layers', 'Context', 'Supported' }
        @{ Name = 'LlamaPromptResult'; Objects = { $script:Local }; Headers = 'Text', 'Prompt t', 'Gen t', 'Eval t/s', 'Total ms', 'Stop' }
        @{ Name = 'LlamaChatResult'; Objects = { $script:Chat }; Headers = 'Reply', 'Template', 'Turns', 'Gen t', 'Eval t/s', 'Stop' }
        @{ Name = 'LlamaPerplexityResult'; Objects = { $script:Perplexity }; Headers = 'Model', 'PPL', '+/-', 'Scored', 'Chunks', 'Context', 't/s' }
        @{ Name = 'LlamaWorkerTiming'; Objects = { $script:Distributed.Workers }; Headers = 'Endpoint', 'Layers', 'Compute ms', 'Network ms', 'Sent', 'Received' }
        @{ Name = 'LlamaWorker'; Objects = { $script:W1, $script:W2 }; Headers = 'Name', 'Endpoint', 'PID', 'Threads', 'Memory', 'Detached', 'State' }
        @{ Name = 'LlamaCluster'; Objects = { $script:Cluster }; Headers = 'Id', 'Model', 'Split', 'Nodes', 'Load ms', 'State', 'Endpoints' }
        @{ Name = 'LlamaClusterNode'; Objects = { $script:Cluster.Nodes }; Headers = 'Endpoint', 'Layers', 'Weights', 'Threads', 'Load ms', 'Health', 'Source' }
        @{ Name = 'LlamaWorkerStatus'; Objects = { $script:Status }; Headers = 'Endpoint', 'Name', 'Threads', 'Free', 'Sessions', 'Ranges' }
        @{ Name = 'LlamaConversionResult'; Objects = { $script:Quantized }; Headers = 'Type', 'Size', 'Ratio', 'Fallbacks', 'Time ms', 'Path' }
        @{ Name = 'LlamaQuantizationFallback'; Objects = { $script:Quantized.Fallbacks }; Headers = 'Tensor', 'Columns', 'Rows', 'Planned', 'Fallback' }
        @{ Name = 'LlamaBenchmarkResult'; Objects = { $script:Benchmark }; Headers = 'model', 'size', 'params', 'backend', 'threads', 'test', 't/s' }
    ) {
        $objects = @(& $Objects)
        $objects.Count | Should -BeGreaterThan 0
        $objects[0].GetType().Name | Should -Be $Name
        $lines = Get-View $objects
        $lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
        $header = $lines | Where-Object { $_ -match '\S' } | Select-Object -First 1
        $header | Should -Not -Match '…|\.\.\.'
        # Every key header whole, in this order, each followed by a space or the end of the line.
        $pattern = '^\s*' + (($Headers | ForEach-Object { [regex]::Escape($_) }) -join '\s+') + '\s*$'
        $header | Should -Match $pattern
        # One data row per object below the header and the dashes.
        @($lines | Where-Object { $_ -match '\S' }).Count | Should -Be (2 + $objects.Count)
    }
}

Describe 'Model table' {
    It 'names each model by its file, so a folder listing tells them apart' {
        $lines = Get-View (Get-LlamaModel -Path $script:Tiny)
        $lines[3] | Should -Match '^tiny-f32\.gguf\s+llama\s+F32\s'
    }
}

Describe 'List views' {
    It 'shows a prompt result''s token ids and timings' {
        $view = (Get-View $script:Local -List) -join "`n"
        $view | Should -Match ('TokenIds\s+: ' + [regex]::Escape($script:Local.TokenIds -join ' '))
        foreach ($name in 'PromptEvalMs', 'EvalMs', 'EvalTokensPerSecond', 'LoadMs', 'TotalMs', 'StopReason') { $view | Should -Match "(?m)^$name\s+: \S" }
    }

    It 'shows the per-worker breakdown of a distributed prompt, sizes in binary units' {
        $view = (Get-View $script:Distributed -List) -join "`n"
        foreach ($worker in $script:Distributed.Workers) {
            $view | Should -Match ([regex]::Escape("$($worker.Endpoint) [$($worker.Layers)]: compute"))
        }
        $view | Should -Match 'sent \d+(\.\d+)? (B|KiB|MiB)'
        ($view -split "`n") | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
    }

    It 'shows a chat''s messages, a cluster''s nodes and a conversion''s fallbacks' {
        ((Get-View $script:Chat -List) -join "`n") | Should -Match 'Messages\s+: user: Hi'
        $cluster = (Get-View $script:Cluster -List) -join "`n"
        $cluster | Should -Match ([regex]::Escape("$($script:W1.Endpoint) [0-0]: "))
        $cluster | Should -Match ([regex]::Escape("$($script:W2.Endpoint) [1-1]: "))
        $conversion = (Get-View $script:Quantized -List) -join "`n"
        $first = $script:Quantized.Fallbacks[0]
        $conversion | Should -Match ('Fallbacks\s+: ' + [regex]::Escape("$($first.Tensor) ($($first.Columns) x $($first.Rows)): $($first.PlannedType) -> $($first.FallbackType)"))
    }
}

Describe 'Units' {
    It 'writes every size in binary units' {
        (Get-LlamaModel -Path $EmbeddedModel).Size | Should -Be '1.67 MiB'
        $script:W1.Memory | Should -Match '^\d+(\.\d{1,2})? (GiB|MiB|TiB)$'
        $script:Cluster.Nodes[0].Weights | Should -Match '^\d+(\.\d{1,2})? MiB$'
        $script:Status.FreeMemory | Should -Match '^\d+(\.\d{1,2})? (GiB|MiB|TiB)$'
        $script:Benchmark[0].Size | Should -Be '1.67 MiB'
        $script:Quantized.Size | Should -Match '^\d+(\.\d{1,2})? MiB$'
        $all = @(Get-LlamaModel -Path $EmbeddedModel; $script:W1; $script:Cluster.Nodes; $script:Status; $script:Quantized; $script:Benchmark) |
            Format-Table | Out-String -Width 80
        $all | Should -Not -Match '\d (KB|MB|GB)\b'
    }
}
