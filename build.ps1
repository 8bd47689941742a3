<#
.SYNOPSIS
    Builds, tests, benchmarks, demonstrates and packages LlamaDist.
.DESCRIPTION
    A dependency-free task table. Run from a fresh machine with only the .NET SDK:
        dotnet tool restore && dotnet pwsh ./build.ps1 -Task Demo
        dotnet tool restore && dotnet pwsh ./build.ps1 -Task Test
        dotnet tool restore && dotnet pwsh ./build.ps1 -Task Test -Fast   (the inner loop: Slow and Fuzz tests left out)
        dotnet tool restore && dotnet pwsh ./build.ps1 -Task Fuzz -FuzzIterations 10000
    -Task takes several names (Build,Test or "Build,Test"); each runs once, in the order given, after the tasks
    it depends on.
#>
[CmdletBinding()]
param(
    # Clean, Build, Test, Fuzz, Benchmark, Reliability, DeviceCheck, Demo, Package. Validated after splitting (see below), not by ValidateSet.
    [string[]] $Task = @('Build'),

    # Cases per fuzz test for -Task Fuzz (the ordinary Test task runs each fuzz test's quick default).
    [ValidateRange(1, [int]::MaxValue)]
    [int] $FuzzIterations = 10000,

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # For -Task Benchmark: only the benchmark scripts whose names start with these (LocalDecode, Distributed).
    [string[]] $Benchmark = @(),

    # For -Task Test: the quick inner-loop subset (see the Test task).
    [switch] $Fast
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$RepositoryRoot = $PSScriptRoot
$ModuleBinDirectory = Join-Path $RepositoryRoot 'module/bin'
$DependencyDirectory = Join-Path $ModuleBinDirectory 'Dependencies'
$OutputDirectory = Join-Path $RepositoryRoot 'out'
# Generated help: PowerShell reads a module's help from <module base>/<culture>, beside the manifest.
$HelpDirectory = Join-Path $RepositoryRoot 'en-US'
$TestResultDirectory = Join-Path $OutputDirectory 'test-results'

# pwsh -File build.ps1 -Task A,B passes "A,B" as one string, so split every entry on commas.
$requestedTasks = @($Task | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })

function Invoke-Native {
    # Runs a native command and stops the build when it fails (native failures do not throw by themselves).
    param([Parameter(Mandatory)] [string] $FilePath, [string[]] $ArgumentList = @())
    Write-Host "> $FilePath $($ArgumentList -join ' ')" -ForegroundColor DarkGray
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Get-NuGetPackageRoot {
    $line = & dotnet nuget locals global-packages --list
    return ($line -replace '^global-packages:\s*', '').Trim()
}

function Start-FreshPwsh {
    # Runs a script in a new pwsh process: loaded assemblies cannot be unloaded, so tests and demos never reuse
    # this one. Under the dotnet tool, [Environment]::ProcessPath is dotnet, hence "dotnet <PSHOME>/pwsh.dll".
    param([Parameter(Mandatory)] [string] $Command)
    $pwshDll = Join-Path $PSHOME 'pwsh.dll'
    if (Test-Path $pwshDll) {
        & dotnet $pwshDll -NoProfile -NonInteractive -Command $Command | Out-Host
    }
    else {
        & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command $Command | Out-Host
    }
    return $LASTEXITCODE
}

$TaskTable = [ordered]@{
    Clean     = @{ DependsOn = @(); Action = {
            foreach ($path in @($ModuleBinDirectory, $OutputDirectory, $HelpDirectory)) {
                if (Test-Path $path) { Remove-Item $path -Recurse -Force }
            }
            Get-ChildItem $RepositoryRoot -Directory -Recurse -Include bin, obj -ErrorAction SilentlyContinue |
                Where-Object { $_.FullName -match '[\\/](src|tests|build)[\\/]' } |
                Remove-Item -Recurse -Force
        }
    }
    Build     = @{ DependsOn = @(); Action = {
            # The engine and its dependencies go to module/bin/Dependencies (loaded into a private load context);
            # only the cmdlet assembly sits at module/bin.
            if (Test-Path $ModuleBinDirectory) { Remove-Item $ModuleBinDirectory -Recurse -Force }
            Invoke-Native dotnet @('publish', (Join-Path $RepositoryRoot 'src/LlamaDist.Engine/LlamaDist.Engine.csproj'),
                '-c', $Configuration, '-o', $DependencyDirectory, '--nologo', '-v', 'quiet')
            $cmdletPublish = Join-Path $OutputDirectory 'publish/LlamaDist.PowerShell'
            Invoke-Native dotnet @('publish', (Join-Path $RepositoryRoot 'src/LlamaDist.PowerShell/LlamaDist.PowerShell.csproj'),
                '-c', $Configuration, '-o', $cmdletPublish, '--nologo', '-v', 'quiet')
            Copy-Item (Join-Path $cmdletPublish 'LlamaDist.PowerShell.*') $ModuleBinDirectory
            Write-Host "Module laid out under $ModuleBinDirectory"
            # Help: MAML from module/help-src and the compiled cmdlets, in a fresh process (it imports the module).
            $exit = Start-FreshPwsh "& '$RepositoryRoot/build/New-ModuleHelp.ps1' -ManifestPath '$RepositoryRoot/LlamaDist.psd1' -SourceDirectory '$RepositoryRoot/module/help-src' -OutputDirectory '$HelpDirectory'"
            if ($exit -ne 0) { throw "Writing the help failed (exit code $exit)." }
        }
    }
    Test      = @{ DependsOn = @('Build'); Action = {
            if (Test-Path $TestResultDirectory) { Remove-Item $TestResultDirectory -Recurse -Force }
            $null = New-Item -ItemType Directory -Path $TestResultDirectory -Force
            $passed = 0; $failed = 0; $skipped = 0; $problems = @(); $failures = @()

            # xunit: every test project, results read back from TRX files. On a CPU with AVX-512 the kernel tests
            # run a second time with AVX-512 turned off in the runtime, so the AVX2 paths (what AVX2-only machines
            # run) are checked against their scalar references here too.
            # -Fast, the inner loop: leaves out the classes and Describe blocks marked Slow (llama.cpp agreement, clusters,
            # leases, detached workers, remoting) and the fuzz tests, and runs only the kernel tests without AVX-512.
            # The long reliability runs (fault injection, load, hand-off measurements) have their own task.
            $fastFilter = 'Category!=Slow&Category!=Fuzz&Category!=Reliability'
            $runs = @(Get-ChildItem (Join-Path $RepositoryRoot 'tests') -Recurse -Filter '*.Tests.csproj' |
                    ForEach-Object { @{ Project = $_; Name = $_.BaseName; Avx512Off = $false; VnniOff = $false; Filter = $(if ($Fast) { $fastFilter } else { 'Category!=Reliability' }) } })
            if ([System.Runtime.Intrinsics.X86.Avx512F]::IsSupported) {
                $core = $runs | Where-Object { $_.Name -eq 'LlamaDist.Core.Tests' } | Select-Object -First 1
                $runs += @{ Project = $core.Project; Name = 'LlamaDist.Core.Tests.Avx512Off'; Avx512Off = $true; VnniOff = $false
                    Filter = $(if ($Fast) { "FullyQualifiedName~LlamaDist.Core.Tests.Quantization&$fastFilter" } else { 'Category!=Reliability' }) }
            }
            # On a CPU with AVX-VNNI the kernel tests run once more with it off, so the vpmaddubsw sequences that CPUs
            # without vpdpbusd run are checked too.
            if ([System.Runtime.Intrinsics.X86.AvxVnni]::IsSupported) {
                $core = $runs | Where-Object { $_.Name -eq 'LlamaDist.Core.Tests' } | Select-Object -First 1
                $runs += @{ Project = $core.Project; Name = 'LlamaDist.Core.Tests.AvxVnniOff'; Avx512Off = $false; VnniOff = $true
                    Filter = "FullyQualifiedName~LlamaDist.Core.Tests.Quantization&$fastFilter" }
            }
            foreach ($run in $runs) {
                $resultFile = "$($run.Name).trx"
                # .NET 10 reads DOTNET_EnableAVX512 (DOTNET_EnableAVX512F alone no longer turns AVX-512 off); older
                # runtimes read the F form. Both are set so the pass runs the AVX2 paths on either.
                if ($run.Avx512Off) { $env:DOTNET_EnableAVX512 = '0'; $env:DOTNET_EnableAVX512F = '0'; Write-Host "$($run.Name): DOTNET_EnableAVX512=0" }
                if ($run.VnniOff) { $env:DOTNET_EnableAVXVNNI = '0'; Write-Host "$($run.Name): DOTNET_EnableAVXVNNI=0" }
                $filterArguments = if ($run.Filter) { @('--filter', $run.Filter) } else { @() }
                try {
                    & dotnet test $run.Project.FullName -c $Configuration --nologo --logger "trx;LogFileName=$resultFile" `
                        --results-directory $TestResultDirectory @filterArguments
                }
                finally {
                    if ($run.Avx512Off) { Remove-Item Env:DOTNET_EnableAVX512, Env:DOTNET_EnableAVX512F }
                    if ($run.VnniOff) { Remove-Item Env:DOTNET_EnableAVXVNNI }
                }
                if ($LASTEXITCODE -ne 0) { $problems += "$($run.Name) exited with $LASTEXITCODE" }
                $trxPath = Join-Path $TestResultDirectory $resultFile
                if (-not (Test-Path $trxPath)) { $problems += "$($run.Name) wrote no results"; continue }
                $trx = [xml](Get-Content $trxPath -Raw)
                $counters = $trx.TestRun.ResultSummary.Counters
                # The failing tests by name, with the first line of their message, so a log that keeps only its last
                # lines still says what failed.
                foreach ($result in @($trx.TestRun.Results.UnitTestResult | Where-Object { $_.outcome -ne 'Passed' -and $_.outcome -ne 'NotExecuted' })) {
                    $message = "$($result.Output.ErrorInfo.Message)".Trim() -split "`n" | Select-Object -First 1
                    $failures += "$($run.Name): $($result.testName) ($($result.outcome)): $message"
                }
                $passed += [int]$counters.passed
                $failed += [int]$counters.failed + [int]$counters.error + [int]$counters.timeout
                $skipped += [int]$counters.total - [int]$counters.executed  # xunit skips are counted as not executed
            }

            # Pester: the module end to end, in a fresh pwsh process.
            $pesterSummary = Join-Path $TestResultDirectory 'pester-summary.json'
            $pesterExit = Start-FreshPwsh "& '$RepositoryRoot/tests/Invoke-PesterSuite.ps1' -SummaryPath '$pesterSummary' -PesterModule '$(Get-PesterModulePath)'$(if ($Fast) { ' -Fast' })"
            if (Test-Path $pesterSummary) {
                $summary = Get-Content $pesterSummary -Raw | ConvertFrom-Json
                $passed += [int]$summary.Passed
                $failed += [int]$summary.Failed
                $skipped += [int]$summary.Skipped
                $failures += @($summary.Failures | Where-Object { $_ } | ForEach-Object { "Pester: $_" })
            }
            else { $problems += "Pester wrote no summary (exit code $pesterExit)" }

            foreach ($failure in $failures) { Write-Host "Failed: $failure" -ForegroundColor Red }
            foreach ($problem in $problems) { Write-Host "Test run problem: $problem" -ForegroundColor Red }
            if ($problems.Count -gt 0 -and $failed -eq 0) { $failed = $problems.Count }
            Write-Host "$passed passed, $failed failed, $skipped skipped$(if ($Fast) { ' (fast subset: Slow and Fuzz left out)' })"
            if ($failed -gt 0) { throw "Tests failed." }
        }
    }
    Fuzz      = @{ DependsOn = @(); Action = {
            # The fuzz tests (trait Category=Fuzz: mutated GGUF files, hostile protocol messages) in their long mode:
            # same fixed seeds as in the Test task, continued to $FuzzIterations cases each. Not part of Test.
            $previous = $env:LLAMADIST_FUZZ_ITERATIONS
            $env:LLAMADIST_FUZZ_ITERATIONS = "$FuzzIterations"
            try {
                foreach ($project in @('tests/LlamaDist.Core.Tests', 'tests/LlamaDist.Distributed.Tests')) {
                    & dotnet test (Join-Path $RepositoryRoot $project) -c $Configuration --nologo --filter 'Category=Fuzz' `
                        --logger 'console;verbosity=detailed'
                    if ($LASTEXITCODE -ne 0) { throw "Fuzzing $project failed (exit code $LASTEXITCODE)." }
                }
            }
            finally { $env:LLAMADIST_FUZZ_ITERATIONS = $previous }
            Write-Host "Fuzzing passed: $FuzzIterations cases per fuzz test (counts by outcome above)."
        }
    }
    Benchmark = @{ DependsOn = @('Build'); Action = {
            Invoke-Native dotnet @('build', (Join-Path $RepositoryRoot 'tests/LlamaDist.LlamaCppRunner/LlamaDist.LlamaCppRunner.csproj'),
                '-c', 'Release', '--nologo', '-v', 'quiet')
            $names = @($Benchmark | ForEach-Object { $_ -split ',' } | Where-Object { $_ } | ForEach-Object { "'$($_.Trim())'" }) -join ','
            $only = if ($names) { " -BenchmarkName $names" } else { '' }
            $exit = Start-FreshPwsh "& '$RepositoryRoot/tests/Invoke-PesterSuite.ps1' -Benchmark$only -PesterModule '$(Get-PesterModulePath)'"
            if ($exit -ne 0) { throw "Benchmarks failed (exit code $exit)." }
        }
    }
    DeviceCheck = @{ DependsOn = @(); Action = {
            # The GPU device check as one self-contained linux-x64 file (no .NET on the GPU machine), with
            # tests/Device/run-gpu-check.sh beside it: copy out/devicecheck there and run the script.
            $deviceCheckDirectory = Join-Path $OutputDirectory 'devicecheck'
            if (Test-Path $deviceCheckDirectory) { Remove-Item $deviceCheckDirectory -Recurse -Force }
            Invoke-Native dotnet @('publish', (Join-Path $RepositoryRoot 'tests/LlamaDist.DeviceCheck/LlamaDist.DeviceCheck.csproj'),
                '-c', $Configuration, '-r', 'linux-x64', '--self-contained', '-p:PublishSingleFile=true',
                '-p:EnableCompressionInSingleFile=true', '-p:DebugType=none', '-o', $deviceCheckDirectory, '--nologo', '-v', 'quiet')
            Copy-Item (Join-Path $RepositoryRoot 'tests/Device/run-gpu-check.sh') $deviceCheckDirectory
            $size = (Get-ChildItem $deviceCheckDirectory -File | Measure-Object Length -Sum).Sum
            if ($size -gt 64MB) { throw "The device check is $([math]::Round($size / 1MB, 1)) MiB; it must stay under 64 MiB." }
            Write-Host ("Device check in {0} ({1:N1} MiB): run-gpu-check.sh there." -f $deviceCheckDirectory, ($size / 1MB))
        }
    }
    Reliability = @{ DependsOn = @('Build'); Action = {
            # The long reliability runs, not part of Test (docs/RELIABILITY.md): twenty faults injected into a
            # cluster of real worker processes (Pester, tag Reliability; figures to reliability-faults.csv), then
            # the xunit tests of trait Category=Reliability (load with cancellation, hand-off encoding costs).
            $null = New-Item -ItemType Directory -Force -Path $TestResultDirectory
            $previous = $env:LLAMADIST_RELIABILITY_REPORT
            $env:LLAMADIST_RELIABILITY_REPORT = Join-Path $TestResultDirectory 'reliability-faults.csv'
            try {
                $exit = Start-FreshPwsh "& '$RepositoryRoot/tests/Invoke-PesterSuite.ps1' -Reliability -PesterModule '$(Get-PesterModulePath)'"
            }
            finally { $env:LLAMADIST_RELIABILITY_REPORT = $previous }
            if ($exit -ne 0) { throw "The fault-injection suite failed (exit code $exit)." }
            & dotnet test (Join-Path $RepositoryRoot 'tests/LlamaDist.Engine.Tests') -c $Configuration --nologo --filter 'Category=Reliability' `
                --logger 'console;verbosity=detailed'
            if ($LASTEXITCODE -ne 0) { throw "The reliability tests failed (exit code $LASTEXITCODE)." }
        }
    }
    Demo      = @{ DependsOn = @('Build'); Action = {
            $exit = Start-FreshPwsh "& '$RepositoryRoot/build/Demo.ps1'"
            if ($exit -ne 0) { throw "Demo failed (exit code $exit)." }
        }
    }
    Package   = @{ DependsOn = @('Build'); Action = {
            & (Join-Path $RepositoryRoot 'build/New-ModulePackage.ps1') -RepositoryRoot $RepositoryRoot -OutputDirectory $OutputDirectory
        }
    }
}

function Get-PesterModulePath {
    # Pester comes from NuGet through a restore-only project, then is imported from the package folder.
    Invoke-Native dotnet @('restore', (Join-Path $RepositoryRoot 'build/PesterRestore.csproj'), '--nologo', '-v', 'quiet')
    $path = Join-Path (Get-NuGetPackageRoot) 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $path)) { throw "Pester was restored but $path is missing." }
    return $path
}

$completed = [System.Collections.Generic.HashSet[string]]::new()
function Invoke-Task([string] $Name) {
    if ($completed.Contains($Name)) { return }
    foreach ($dependency in $TaskTable[$Name].DependsOn) { Invoke-Task $dependency }
    Write-Host "=== $Name ===" -ForegroundColor Cyan
    & $TaskTable[$Name].Action
    $null = $completed.Add($Name)
}

foreach ($name in $requestedTasks) {
    if (-not $TaskTable.Contains($name)) { throw "Unknown task '$name'. Tasks: $($TaskTable.Keys -join ', ')." }
}
try {
    foreach ($name in $requestedTasks) { Invoke-Task $name }
}
catch {
    Write-Host "build.ps1: $($_.Exception.Message)" -ForegroundColor Red
    exit 1
}
exit 0
