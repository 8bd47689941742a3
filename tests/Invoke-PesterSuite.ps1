<#
.SYNOPSIS
    Runs the Pester suite (or the benchmarks) against the built module, in the process it is started in.
.DESCRIPTION
    build.ps1 starts this in a fresh pwsh so the module's assemblies never outlive the run. Writes a JSON summary
    ({ Passed, Failed, Skipped }) for the Test task's closing line and exits non-zero on failure (Pester's own exit
    code is not used: an exit status of 256 reads as 0 on Linux).
#>
param(
    [Parameter(Mandatory)] [string] $PesterModule,
    [string] $SummaryPath,
    [switch] $Benchmark,
    # The long fault-injection suites (tests/Reliability, tag Reliability) instead of the ordinary ones.
    [switch] $Reliability,

    # With -Benchmark: only the scripts whose names start with one of these (LocalDecode, Distributed).
    [string[]] $BenchmarkName = @(),

    # The inner loop's subset: Describe blocks tagged Slow (workers, clusters, remoting, conversions) left out.
    [switch] $Fast
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterModule -MinimumVersion 5.7.1

$configuration = New-PesterConfiguration
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Detailed'
if ($Benchmark) {
    $scripts = @(Get-ChildItem (Join-Path $PSScriptRoot 'Benchmarks') -Filter '*.Benchmark.Tests.ps1' |
            Where-Object { $file = $_; $BenchmarkName.Count -eq 0 -or @($BenchmarkName | Where-Object { $file.Name -like "$_*" }).Count -gt 0 })
    if ($scripts.Count -eq 0) { throw "No benchmark script matches $($BenchmarkName -join ', ')." }
    $configuration.Run.Path = [string[]]$scripts.FullName
    $configuration.Filter.Tag = 'Benchmark'
}
elseif ($Reliability) {
    $configuration.Run.Path = Join-Path $PSScriptRoot 'Reliability'
    $configuration.Filter.Tag = 'Reliability'
}
else {
    $configuration.Run.Path = Join-Path $PSScriptRoot 'Pester'
    $configuration.Filter.ExcludeTag = if ($Fast) { @('Benchmark', 'Reliability', 'Slow') } else { @('Benchmark', 'Reliability') }
}

# Workers the suites start record themselves and log under a state directory of this run's own (TestHelpers.ps1),
# removed afterwards.
$env:LLAMADIST_TEST_STATE = Join-Path ([IO.Path]::GetTempPath()) "llamadist-pester-state-$PID"
try {
    $result = Invoke-Pester -Configuration $configuration
}
finally {
    Remove-Item -LiteralPath $env:LLAMADIST_TEST_STATE -Recurse -Force -ErrorAction SilentlyContinue
}
if ($SummaryPath) {
    # Failures by name with the first line of their error, for the Test task to repeat beside its closing line.
    $failures = @(@($result.Failed) | ForEach-Object { "$($_.ExpandedPath): $("$($_.ErrorRecord | Select-Object -First 1)" -split "`n" | Select-Object -First 1)" }) +
        @(@($result.FailedBlocks) + @($result.FailedContainers) | ForEach-Object { "$($_.Name ?? $_.Item): block failed" })
    [pscustomobject]@{ Passed = $result.PassedCount; Failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount; Skipped = $result.SkippedCount; Failures = $failures } |
        ConvertTo-Json | Set-Content -Path $SummaryPath
}
if ($result.FailedCount -gt 0 -or $result.FailedBlocksCount -gt 0 -or $result.FailedContainersCount -gt 0 -or $result.Result -ne 'Passed') { exit 1 }
exit 0
