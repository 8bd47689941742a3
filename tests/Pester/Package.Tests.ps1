# The package as a user installs it: build/New-ModulePackage.ps1 packs the built module into a .nupkg, a temporary
# PSResourceGet repository (a folder) serves it, Save-PSResource installs it into a temporary module path, and a
# clean pwsh -NoProfile imports it by name and runs one prompt on the embedded model. PSResourceGet's repository
# list lives under XDG_DATA_HOME, which the child processes get pointed at a temporary folder, so the user's
# repositories are never touched.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    function Invoke-CleanPwsh {
        # Runs a command in a new pwsh -NoProfile with extra environment variables; returns its output lines.
        param([string] $Command, [hashtable] $Environment = @{})
        $pwshDll = Join-Path $PSHOME 'pwsh.dll'
        $start = if (Test-Path $pwshDll) { [Diagnostics.ProcessStartInfo]::new('dotnet') } else { [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh')) }
        if (Test-Path $pwshDll) { $start.ArgumentList.Add($pwshDll) }
        foreach ($argument in @('-NoProfile', '-NonInteractive', '-Command', $Command)) { $start.ArgumentList.Add($argument) }
        foreach ($name in $Environment.Keys) { $start.Environment[$name] = $Environment[$name] }
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $start.UseShellExecute = $false
        $process = [Diagnostics.Process]::Start($start)
        $errors = $process.StandardError.ReadToEndAsync()
        $output = $process.StandardOutput.ReadToEndAsync()
        if (-not $process.WaitForExit(120000)) { $process.Kill($true); throw "pwsh did not finish within 120 s: $Command" }
        $process.WaitForExit()
        if ($process.ExitCode -ne 0) { throw "pwsh exited with $($process.ExitCode): $($errors.Result)$($output.Result)" }
        return $output.Result
    }

    $script:WorkRoot = Join-Path ([IO.Path]::GetTempPath()) "llamadist-package-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $script:PackageOutput = Join-Path $WorkRoot 'out'
    $script:Repository = Join-Path $WorkRoot 'repository'
    $script:InstallPath = Join-Path $WorkRoot 'modules'
    $script:IsolatedData = Join-Path $WorkRoot 'data'
    $null = New-Item -ItemType Directory -Path $PackageOutput, $Repository, $InstallPath, $IsolatedData -Force
    $script:Version = (Import-PowerShellDataFile (Join-Path $RepositoryRoot 'LlamaDist.psd1')).ModuleVersion

    $null = Invoke-CleanPwsh "& '$RepositoryRoot/build/New-ModulePackage.ps1' -RepositoryRoot '$RepositoryRoot' -OutputDirectory '$PackageOutput'" @{ XDG_DATA_HOME = $IsolatedData }
    $script:Package = Join-Path $PackageOutput "LlamaDist.$Version.nupkg"
    Copy-Item $Package $Repository

    $install = @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name LlamaDistTest -Uri '$Repository' -Trusted
try {
    Save-PSResource -Name LlamaDist -Repository LlamaDistTest -Path '$InstallPath' -TrustRepository -IncludeXml -Quiet
}
finally {
    Unregister-PSResourceRepository -Name LlamaDistTest
}
"@
    $null = Invoke-CleanPwsh $install @{ XDG_DATA_HOME = $IsolatedData }

    # Imported by name from the installed path, as Install-PSResource users import it.
    $use = @"
`$ErrorActionPreference = 'Stop'
`$env:PSModulePath = '$InstallPath' + [IO.Path]::PathSeparator + `$env:PSModulePath
Import-Module LlamaDist
`$module = Get-Module LlamaDist
`$result = Invoke-LlamaPrompt -Prompt 'Once upon a time' -MaxTokens 4 -Temperature 0 -Threads 1
# An installation that lost the worker's runtime configuration cannot start a detached worker: the error must
# stop the pipeline (terminating even under ErrorAction Continue) with ErrorId RuntimeMissing.
Remove-Item (Join-Path `$module.ModuleBase 'bin/Dependencies/LlamaDist.Worker.runtimeconfig.json')
`$ErrorActionPreference = 'Continue'
`$missing = try { Start-LlamaWorker -Port 0 -Detached; 'not terminating' } catch { @{ ErrorId = `$_.FullyQualifiedErrorId; Message = `$_.Exception.Message } }
`$ErrorActionPreference = 'Stop'
[pscustomobject]@{
    ModuleBase = `$module.ModuleBase
    Version = `$module.Version.ToString()
    Commands = @(Get-Command -Module LlamaDist).Count
    GeneratedTokens = `$result.GeneratedTokens
    TokenIds = `$result.TokenIds
    Synopsis = (Get-Help Invoke-LlamaPrompt).Synopsis
    AboutTopic = (Get-Help about_LlamaDist | Out-String)
    MissingRuntime = `$missing
} | ConvertTo-Json -Compress
"@
    $script:Installed = (Invoke-CleanPwsh $use @{ XDG_DATA_HOME = $IsolatedData; XDG_STATE_HOME = $env:XDG_STATE_HOME }) | ConvertFrom-Json
}

AfterAll {
    if ($WorkRoot -and (Test-Path $WorkRoot)) { Remove-Item $WorkRoot -Recurse -Force }
}

Describe 'build.ps1 -Task Package' {
    It 'writes a .nupkg with the module, its help, the embedded model and the licence' {
        $Package | Should -Exist
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $archive = [IO.Compression.ZipFile]::OpenRead($Package)
        try { $entries = @($archive.Entries.FullName) }
        finally { $archive.Dispose() }
        foreach ($expected in @('LlamaDist.psd1', 'LlamaDist.nuspec', 'bin/LlamaDist.PowerShell.dll', 'bin/Dependencies/LlamaDist.Engine.dll',
                'bin/Dependencies/LlamaDist.Worker.dll', 'en-US/LlamaDist.PowerShell.dll-Help.xml', 'en-US/about_LlamaDist.help.txt',
                'en-US/about_LlamaDist_Distributed.help.txt', 'Models/llama-2-tiny-random.gguf', 'LlamaDist.Format.ps1xml', 'LICENSE')) {
            $entries | Should -Contain $expected
        }
        @($entries | Where-Object { $_ -like '*.pdb' }) | Should -BeNullOrEmpty
    }

    It 'ships the worker''s runtime settings: without dynamic PGO' {
        # With it a fresh worker measured its throughput in instrumented kernels (the worker's project says more).
        # Read from the package: the installed copy's file is removed above to test RuntimeMissing.
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $archive = [IO.Compression.ZipFile]::OpenRead($Package)
        try {
            $reader = [IO.StreamReader]::new($archive.GetEntry('bin/Dependencies/LlamaDist.Worker.runtimeconfig.json').Open())
            try { $settings = $reader.ReadToEnd() | ConvertFrom-Json }
            finally { $reader.Dispose() }
        }
        finally { $archive.Dispose() }
        $settings.runtimeOptions.configProperties.'System.Runtime.TieredPGO' | Should -BeFalse
    }

    It 'installs from a PSResourceGet repository into the module path given' {
        Join-Path $InstallPath "LlamaDist/$Version/LlamaDist.psd1" | Should -Exist
        Join-Path $InstallPath "LlamaDist/$Version/PSGetModuleInfo.xml" | Should -Exist
        # The registration was made and removed in an isolated data folder; it is gone.
        $repositories = @(Get-ChildItem $IsolatedData -Recurse -Filter 'PSResourceRepository.xml')
        $repositories | Should -HaveCount 1
        Get-Content $repositories[0].FullName -Raw | Should -Not -Match 'LlamaDistTest'
    }

    It 'imports by name in a clean pwsh and runs a prompt on the embedded model' {
        $Installed.ModuleBase | Should -Be (Join-Path $InstallPath "LlamaDist/$Version")
        $Installed.Version | Should -Be $Version
        $Installed.Commands | Should -Be @((Import-PowerShellDataFile (Join-Path $RepositoryRoot 'LlamaDist.psd1')).CmdletsToExport).Count
        $Installed.GeneratedTokens | Should -Be 4
        $Installed.TokenIds | Should -HaveCount 4
    }

    It 'stops with RuntimeMissing when the installation cannot run a detached worker' {
        $Installed.MissingRuntime.ErrorId | Should -Be 'RuntimeMissing,LlamaDist.PowerShell.Commands.StartLlamaWorkerCommand'
        $Installed.MissingRuntime.Message | Should -Match 'LlamaDist\.Worker\.runtimeconfig\.json'
        $Installed.MissingRuntime.Message | Should -Match 'reinstall the module'
    }

    It 'gives the installed module''s help' {
        $Installed.Synopsis | Should -Match 'Generates text from a prompt'
        $Installed.AboutTopic | Should -Match 'TOPIC\s+about_LlamaDist'
    }
}
