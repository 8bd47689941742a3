# -WhatIf/-Confirm on everything that starts, stops, writes or deletes; -Force where a file would be overwritten.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'whatif-worker'
    $script:Cluster = New-LlamaCluster -Model $EmbeddedModel -Worker $script:Worker
    $script:Source = Join-Path $TestDrive 'source.gguf'
    $null = New-LlamaTestModel -Path $script:Source -Preset Tiny -Type F32
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | Stop-LlamaWorker
}

Describe 'ShouldProcess declarations' {
    It '<Name> supports -WhatIf and -Confirm with ConfirmImpact <Impact>' -ForEach @(
        @{ Name = 'Start-LlamaWorker'; Impact = 'Medium' }
        @{ Name = 'Stop-LlamaWorker'; Impact = 'Medium' }
        @{ Name = 'New-LlamaCluster'; Impact = 'Low' }
        @{ Name = 'Remove-LlamaCluster'; Impact = 'Medium' }
        @{ Name = 'ConvertTo-LlamaQuantized'; Impact = 'Medium' }
        @{ Name = 'New-LlamaTestModel'; Impact = 'Medium' }
        @{ Name = 'New-LlamaWorkerCertificate'; Impact = 'Medium' }
    ) {
        $metadata = [System.Management.Automation.CommandMetadata]::new((Get-Command $Name))
        $metadata.SupportsShouldProcess | Should -BeTrue
        $metadata.ConfirmImpact | Should -Be $Impact
    }

    It 'covers every cmdlet whose verb starts, stops, creates, removes or converts' {
        $writers = Get-Command -Module LlamaDist | Where-Object { $_.Verb -in 'Start', 'Stop', 'New', 'Remove', 'Set' -or $_.Name -eq 'ConvertTo-LlamaQuantized' }
        $writers | Should -Not -BeNullOrEmpty
        $writers | Where-Object { -not [System.Management.Automation.CommandMetadata]::new($_).SupportsShouldProcess } | Should -BeNullOrEmpty
    }
}

Describe '-WhatIf changes nothing' {
    It 'Start-LlamaWorker starts no worker, embedded or detached' {
        $before = @(Get-LlamaWorker).Count
        Start-LlamaWorker -Port 0 -WhatIf | Should -BeNullOrEmpty
        Start-LlamaWorker -Port 0 -Detached -WhatIf | Should -BeNullOrEmpty
        @(Get-LlamaWorker).Count | Should -Be $before
    }

    It 'New-LlamaCluster loads nothing on the workers' {
        New-LlamaCluster -Model $EmbeddedModel -Worker $script:Worker -WhatIf | Should -BeNullOrEmpty
        @(Get-LlamaCluster).Count | Should -Be 1
        @((Get-LlamaWorker -Endpoint $script:Worker.Endpoint).Ranges).Count | Should -Be 1
    }

    It 'Stop-LlamaWorker leaves the worker running, by object, name and endpoint' {
        $script:Worker | Stop-LlamaWorker -WhatIf
        Stop-LlamaWorker -Name 'whatif-worker' -WhatIf
        Stop-LlamaWorker -Endpoint $script:Worker.Endpoint -WhatIf
        $script:Worker.State | Should -Be 'Running'
        (Get-LlamaWorker -Endpoint $script:Worker.Endpoint).Endpoint | Should -Be $script:Worker.Endpoint
    }

    It 'Remove-LlamaCluster keeps the cluster, by object and by id' {
        $script:Cluster | Remove-LlamaCluster -WhatIf
        Remove-LlamaCluster -Id $script:Cluster.Id -WhatIf
        $script:Cluster.State | Should -Be 'Ready'
        (Invoke-LlamaPrompt -Cluster $script:Cluster -Prompt 'Hi' -MaxTokens 1 -Temperature 0).GeneratedTokens | Should -Be 1
    }

    It '<Name> writes no file' -ForEach @(
        @{ Name = 'ConvertTo-LlamaQuantized'; Run = { param($Path) ConvertTo-LlamaQuantized -Path $script:Source -Destination $Path -Type Q8_0 -WhatIf } }
        @{ Name = 'New-LlamaTestModel'; Run = { param($Path) New-LlamaTestModel -Path $Path -WhatIf } }
        @{ Name = 'New-LlamaWorkerCertificate'; Run = { param($Path) New-LlamaWorkerCertificate -Path $Path -WhatIf } }
    ) {
        $path = Join-Path $TestDrive "whatif-$Name.out"
        & $Run $path | Should -BeNullOrEmpty
        Test-Path $path | Should -BeFalse
    }
}

Describe '-Force' {
    It '<Name> refuses to overwrite without -Force (FileExists) and overwrites with it' -ForEach @(
        @{ Name = 'ConvertTo-LlamaQuantized'; Run = { param($Path, $Force) ConvertTo-LlamaQuantized -Path $script:Source -Destination $Path -Type Q8_0 -Force:$Force } }
        @{ Name = 'New-LlamaTestModel'; Run = { param($Path, $Force) New-LlamaTestModel -Path $Path -Force:$Force } }
        @{ Name = 'New-LlamaWorkerCertificate'; Run = { param($Path, $Force) New-LlamaWorkerCertificate -Path $Path -Force:$Force } }
    ) {
        $path = Join-Path $TestDrive "exists-$Name.out"
        Set-Content -Path $path -Value 'keep me'
        Get-ErrorIdOf { & $Run $path $false } | Should -Be 'FileExists'
        Get-Content $path | Should -Be 'keep me'
        $null = & $Run $path $true
        (Get-Item $path).Length | Should -BeGreaterThan 100
    }
}
