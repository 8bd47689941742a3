<#
    Benchmark (not a test): a heterogeneous pair — one detached worker with 2 threads, one restricted to 1 thread
    and, where this runs as root on Linux with a CPU cgroup controller, throttled to 40% of one CPU (a busy or slow
    machine; on a memory-bound CPU one thread alone decodes nearly as fast as two) — on loopback, running the same TinyLlama-shaped model split evenly, split by -Split Auto, and split by hand in
    several layer counts (the 2-thread worker first in the ring). Every cluster is loaded at once and measured in
    alternating rounds (pp128 and tg32 through Invoke-LlamaBenchmark), so the machine's drift touches them alike.
    Reports prompt and decode t/s of each, Auto's choice and plan, and Auto's decode against the even split and
    against the best hand-picked split. Writes out/benchmarks/heterogeneous.csv and the table in docs/BENCHMARKS.md.

    Run with: dotnet pwsh ./build.ps1 -Task Benchmark -Benchmark Heterogeneous
    Knobs (environment): LLAMADIST_BENCH_DIST_TYPE (default Q8_0), LLAMADIST_BENCH_REPETITIONS (3),
    LLAMADIST_BENCH_PRESET (TinyLlama).
#>
BeforeAll {
    . (Join-Path $PSScriptRoot 'BenchmarkSetup.ps1')
    $script:rows = [System.Collections.Generic.List[object]]::new()
    $script:throttleGroup = $null
    $script:throttleNote = 'not throttled (needs root and a CPU cgroup controller)'

    # Moves a process into a new CPU cgroup limited to $Percent of one CPU (cgroup v2 cpu.max, else v1 CFS quota)
    # in periods of 5 ms, short enough that a throughput probe of a few milliseconds sees the limit as a decode
    # does; returns the group's folder, or $null where that cannot be done here.
    function Limit-ProcessCpu([int] $ProcessId, [int] $Percent) {
        if (-not $IsLinux) { return $null }
        $name = "llamadist-bench-throttle-$PID"
        try {
            if (Test-Path '/sys/fs/cgroup/cgroup.controllers') {
                $group = "/sys/fs/cgroup/$name"
                Set-Content '/sys/fs/cgroup/cgroup.subtree_control' '+cpu' -ErrorAction SilentlyContinue
                $null = New-Item -ItemType Directory -Path $group -ErrorAction Stop
                Set-Content "$group/cpu.max" "$($Percent * 50) 5000" -ErrorAction Stop
            }
            elseif (Test-Path '/sys/fs/cgroup/cpu/cpu.cfs_quota_us') {
                $group = "/sys/fs/cgroup/cpu/$name"
                $null = New-Item -ItemType Directory -Path $group -ErrorAction Stop
                Set-Content "$group/cpu.cfs_period_us" '5000' -ErrorAction Stop
                Set-Content "$group/cpu.cfs_quota_us" "$($Percent * 50)" -ErrorAction Stop
            }
            else { return $null }
            Set-Content "$group/cgroup.procs" "$ProcessId" -ErrorAction Stop
            return $group
        }
        catch {
            Write-Host "CPU throttling unavailable: $($_.Exception.Message)"
            if ($group -and (Test-Path $group)) { Remove-Item $group -ErrorAction SilentlyContinue }
            return $null
        }
    }
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker -Name 'bench-hetero-*' | Stop-LlamaWorker
    # An empty cgroup folder is removed with rmdir (its control files cannot be deleted one by one).
    if ($throttleGroup) { Start-Sleep -Milliseconds 500; & rmdir $throttleGroup 2>$null }
    if ($rows.Count -eq 0) { return }
    $rows | Export-Csv -Path (Join-Path $resultDirectory 'heterogeneous.csv') -NoTypeInformation
    $table = @(
        '| split | layers (2-thread, 1-thread worker) | pp128 t/s | tg32 t/s | tg32 vs even | tg32 vs best by hand | Auto''s plan |'
        '|---|---|---|---|---|---|---|'
        $rows | ForEach-Object { "| $($_.Split) | $($_.Layers) | $($_.PromptTps) | $($_.DecodeTps) | $($_.VsEven)x | $($_.VsBest)x | $($_.Plan) |" }
    ) -join "`n"
    $benchmarks = Join-Path $RepositoryRoot 'docs/BENCHMARKS.md'
    $section = "<!-- heterogeneous:start -->`n$table`n`n$preset $type, two detached workers on 127.0.0.1 (2 threads; 1 thread, $throttleNote), pp128 / tg32, $repetitions alternating rounds (means), measured $(Get-Date -Format 'yyyy-MM-dd') on $([Environment]::ProcessorCount) logical CPUs.`n<!-- heterogeneous:end -->"
    $text = Get-Content $benchmarks -Raw
    $text = [regex]::Replace($text, '(?s)<!-- heterogeneous:start -->.*<!-- heterogeneous:end -->', [System.Text.RegularExpressions.MatchEvaluator] { param($m) $section })
    Set-Content -Path $benchmarks -Value $text.TrimEnd() -NoNewline
    Write-Host $table
}

Describe 'A heterogeneous pair: Auto against even and hand-picked splits' -Tag 'Benchmark' {
    It 'one 2-thread and one 1-thread worker' {
        $fast = Start-LlamaWorker -Port 0 -Threads 2 -Name 'bench-hetero-fast' -Detached
        $slow = Start-LlamaWorker -Port 0 -Threads 1 -Name 'bench-hetero-slow' -Detached
        $script:throttleGroup = Limit-ProcessCpu -ProcessId $slow.ProcessId -Percent 40
        if ($throttleGroup) { $script:throttleNote = "throttled to 40% of one CPU ($throttleGroup)" }
        Write-Host "Slow worker: 1 thread, $throttleNote"
        $layerCount = (Get-LlamaModel -Path $model).LayerCount
        $byHand = @(($layerCount - 1), [math]::Round($layerCount * 0.8), [math]::Round($layerCount * 0.65)) |
            Select-Object -Unique | ForEach-Object { "$_,$($layerCount - $_)" }
        $configurations = [ordered]@{ 'Even' = 'Even'; 'Auto' = 'Auto' }
        foreach ($counts in $byHand) { $configurations["by hand $counts"] = $counts }
        $clusters = [ordered]@{}
        foreach ($name in $configurations.Keys) {
            $clusters[$name] = New-LlamaCluster -Model $model -Worker $fast, $slow -Split $configurations[$name]
        }
        $bench = @{ PromptTokens = 128; GenTokens = 32; Repetitions = 1 }
        foreach ($cluster in $clusters.Values) { $null = Invoke-LlamaBenchmark -Cluster $cluster -PromptTokens 16 -GenTokens 4 -Repetitions 1 }
        $samples = @{}
        for ($i = 0; $i -lt $repetitions; $i++) {
            foreach ($name in $clusters.Keys) {
                $samples[$name] += @(Invoke-LlamaBenchmark -Cluster $clusters[$name] @bench)
            }
        }
        $mean = { param($list, $test) [math]::Round(($list | Where-Object Test -eq $test | Measure-Object -Property AverageTokensPerSecond -Average).Average, 2) }
        $measured = foreach ($name in $clusters.Keys) {
            $cluster = $clusters[$name]
            [pscustomobject]@{
                Split     = $name
                Layers    = if ($cluster.Split -in 'Tensor', 'Hybrid') { $cluster.Split } else { ($cluster.Nodes | ForEach-Object { $_.LastLayer - $_.FirstLayer + 1 }) -join ', ' }
                PromptTps = & $mean $samples[$name] 'pp128'
                DecodeTps = & $mean $samples[$name] 'tg32'
                Plan      = if ($name -eq 'Auto') { $cluster.Plan } else { '' }
            }
        }
        $even = ($measured | Where-Object Split -eq 'Even').DecodeTps
        $best = ($measured | Where-Object Split -like 'by hand*' | Measure-Object -Property DecodeTps -Maximum).Maximum
        foreach ($row in $measured) {
            $row | Add-Member VsEven ([math]::Round($row.DecodeTps / $even, 2))
            $row | Add-Member VsBest ([math]::Round($row.DecodeTps / $best, 2))
            $rows.Add($row)
        }
        $measured | Format-Table -AutoSize | Out-Host
        ($measured | Where-Object Split -eq 'Auto').DecodeTps | Should -BeGreaterThan 0
    }
}
