# Parameters that bind from the pipeline by property name: Prompt, Message, Model/Path (FullName), Endpoint, Name, Id.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Folder = Join-Path $TestDrive 'models'
    $null = New-Item -ItemType Directory -Path $script:Folder
    Copy-Item $EmbeddedModel (Join-Path $script:Folder 'a.gguf')
    Copy-Item $EmbeddedModel (Join-Path $script:Folder 'b.gguf')
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | Stop-LlamaWorker
}

Describe 'Prompt and Message' {
    It 'sends the Prompt of each Import-Csv row' {
        $csv = Join-Path $TestDrive 'prompts.csv'
        @([pscustomobject]@{ Prompt = 'Once upon a time'; Note = 'x' }, [pscustomobject]@{ Prompt = 'The capital of France'; Note = 'y' }) |
            Export-Csv -Path $csv
        $results = Import-Csv $csv | Invoke-LlamaPrompt -Model $EmbeddedModel -MaxTokens 1 -Temperature 0 -Threads 1
        $results.Prompt | Should -Be @('Once upon a time', 'The capital of France')
        $direct = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 1 -Temperature 0 -Threads 1
        $results[0].TokenIds | Should -Be $direct.TokenIds
    }

    It 'still takes plain strings by value' {
        ('Hello', 'World' | Invoke-LlamaPrompt -Model $EmbeddedModel -MaxTokens 1 -Temperature 0 -Threads 1).Prompt | Should -Be @('Hello', 'World')
    }

    It 'sends the Message of each piped object to Invoke-LlamaChat' {
        $replies = [pscustomobject]@{ Message = 'Hi there' } | Invoke-LlamaChat -Model $EmbeddedModel -ChatTemplate chatml -MaxTokens 1 -Temperature 0 -Threads 1
        $replies.Messages[-2].Content | Should -Be 'Hi there'
    }
}

Describe 'Model paths' {
    It 'Get-ChildItem *.gguf | Get-LlamaModel binds FullName' {
        $models = Get-ChildItem (Join-Path $script:Folder '*.gguf') | Get-LlamaModel
        $models.Path | Should -Be @((Join-Path $script:Folder 'a.gguf'), (Join-Path $script:Folder 'b.gguf'))
    }

    It 'binds a Path or Model property of other objects' {
        ([pscustomobject]@{ Path = (Join-Path $script:Folder 'a.gguf') } | Get-LlamaModel).Path | Should -Be (Join-Path $script:Folder 'a.gguf')
        ([pscustomobject]@{ Model = (Join-Path $script:Folder 'b.gguf') } | Get-LlamaModel).Path | Should -Be (Join-Path $script:Folder 'b.gguf')
    }

    It 'Get-ChildItem | ConvertTo-LlamaQuantized binds FullName' {
        $source = Join-Path $TestDrive 'tiny-f32.gguf'
        $null = New-LlamaTestModel -Path $source -Preset Tiny -Type F32
        $result = Get-Item $source | ConvertTo-LlamaQuantized -Destination (Join-Path $TestDrive 'tiny-q8.gguf') -Type Q8_0
        $result.Source | Should -Be $source
    }
}

Describe 'Workers' {
    BeforeAll {
        $script:Worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'binding-worker'
    }

    It 'a worker object piped to Get-LlamaWorker asks that worker (Endpoint), not the local list by Name' {
        ($script:Worker | Get-LlamaWorker).GetType().Name | Should -Be 'LlamaWorkerStatus'
    }

    It 'binds Endpoint by property name to Get-LlamaWorker' {
        ([pscustomobject]@{ Endpoint = $script:Worker.Endpoint } | Get-LlamaWorker).WorkerId | Should -Be $script:Worker.WorkerId
    }

    It 'starts workers from the Port, Name and Threads of Import-Csv rows' {
        $rows = @([pscustomobject]@{ Port = '0'; Name = 'csv-1'; Threads = '1' }, [pscustomobject]@{ Port = '0'; Name = 'csv-2'; Threads = '1' })
        $started = $rows | Start-LlamaWorker
        $started.Name | Should -Be @('csv-1', 'csv-2')
        $started.Threads | Should -Be @(1, 1)
        $started | Stop-LlamaWorker
    }

    It 'Get-LlamaWorker -Endpoint x | Stop-LlamaWorker binds Endpoint and shuts the worker down' {
        $endpoint = $script:Worker.Endpoint
        Get-LlamaWorker -Endpoint $endpoint | Stop-LlamaWorker
        Get-ErrorIdOf { Get-LlamaWorker -Endpoint $endpoint } | Should -Be 'WorkerUnreachable'
        @(Get-LlamaWorker -Name 'binding-worker').Count | Should -Be 0
    }
}

Describe 'Clusters' {
    It 'binds Id and Cluster by property name to Get-LlamaCluster and Remove-LlamaCluster' {
        $worker = Start-LlamaWorker -Port 0 -Threads 1
        $cluster = New-LlamaCluster -Model $EmbeddedModel -Worker $worker
        ([pscustomobject]@{ Id = $cluster.Id } | Get-LlamaCluster).Id | Should -Be $cluster.Id
        [pscustomobject]@{ Id = $cluster.Id } | Remove-LlamaCluster
        $cluster.State | Should -Be 'Removed'
        Get-ErrorIdOf { Remove-LlamaCluster -Id $cluster.Id } | Should -Be 'ClusterNotFound'
        $second = New-LlamaCluster -Model $EmbeddedModel -Worker $worker
        [pscustomobject]@{ Cluster = $second.Id } | Remove-LlamaCluster
        $second.State | Should -Be 'Removed'
        $worker | Stop-LlamaWorker
    }
}
