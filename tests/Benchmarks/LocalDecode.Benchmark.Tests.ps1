<#
    Benchmark (not a test): llama-bench's pp/tg tests with Invoke-LlamaBenchmark against llama.cpp on
    TinyLlama-shaped synthetic models, same model file, thread count and test shape, in alternating rounds so drift
    on a shared machine hits both sides alike. Writes out/benchmarks/local-decode.csv and the table in
    docs/BENCHMARKS.md (between the local-decode markers), with the CPU's model and flags line.

    The reference is native llama.cpp when LLAMADIST_LLAMACPP_BIN names a build directory holding llama-bench
    (built as docs/BENCHMARKS.md shows): ours runs `Invoke-LlamaBenchmark -Reference LlamaCpp`, which alternates
    with llama-bench itself. On a CPU with AVX-512, LLAMADIST_LLAMACPP_AVX2_BIN names a second build made with
    AVX-512 off; the script then measures a second path: ours with AVX-512 turned off in the runtime
    (DOTNET_EnableAVX512=0, which .NET 10 reads, and DOTNET_EnableAVX512F=0 for older runtimes) against that build.
    Every measurement runs in a fresh pwsh process, so the runtime reads those variables at its start.
    Without LLAMADIST_LLAMACPP_BIN the reference is LLamaSharp 0.30's bundled llama.cpp (tests/LlamaDist.LlamaCppRunner,
    a slower build than a native one), and every table says so.

    Models: New-LlamaTestModel -Preset TinyLlama -Seed 1 for F16, Q8_0 and Q4_0; Q3_K_M, Q4_K_M, Q5_K_M and Q6_K
    made from the F16 model with ConvertTo-LlamaQuantized (llama-quantize's mixes). Each path and type also reports this machine's
    read bandwidth measured in the same run with the same threads (Invoke-LlamaBenchmark's probe), the fraction of
    it decoding reaches on both sides (bytes of weights per token x t/s / bandwidth), and ours' resident memory
    while decoding: the growth over the process before the model loaded, against the model's tensors plus the KV
    cache.

    Run with (one command regenerates the table):
        LLAMADIST_LLAMACPP_BIN=~/llama.cpp-native/build/bin LLAMADIST_LLAMACPP_AVX2_BIN=~/llama.cpp-avx2/build/bin \
            dotnet pwsh ./build.ps1 -Task Benchmark -Benchmark LocalDecode
    Knobs (environment): LLAMADIST_BENCH_TYPES (F16,Q8_0,Q4_0,Q3_K_M,Q4_K_M,Q5_K_M,Q6_K), LLAMADIST_BENCH_PROMPTS (128,512),
    LLAMADIST_BENCH_GEN (32), LLAMADIST_BENCH_REPETITIONS (3 alternating rounds), LLAMADIST_BENCH_THREADS (2),
    LLAMADIST_BENCH_PRESET (TinyLlama). A run with other values than those defaults (repetitions aside) writes its
    table to out/benchmarks/local-decode.md instead of docs/BENCHMARKS.md.
#>
BeforeDiscovery {
    $script:types = if ($env:LLAMADIST_BENCH_TYPES) { $env:LLAMADIST_BENCH_TYPES -split ',' } else { @('F16', 'Q8_0', 'Q4_0', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K') }
    # A path is one instruction-set pairing: ours as the runtime starts vs native llama.cpp, and on AVX-512 CPUs ours
    # with AVX-512 off vs llama.cpp built without it.
    $script:paths = @(@{ Name = 'native'; Avx512Off = $false; LlamaCpp = $env:LLAMADIST_LLAMACPP_BIN })
    if ([System.Runtime.Intrinsics.X86.Avx512F]::IsSupported -and $env:LLAMADIST_LLAMACPP_AVX2_BIN) {
        $script:paths += @{ Name = 'avx2'; Avx512Off = $true; LlamaCpp = $env:LLAMADIST_LLAMACPP_AVX2_BIN }
    }
    # Type by type, both paths of a type together, so a run cut short still compares them.
    $script:cases = foreach ($type in $types) { foreach ($path in $paths) { @{ Path = $path; Type = $type } } }
}

BeforeAll {
    $script:RepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $script:ModuleManifest = Join-Path $RepositoryRoot 'LlamaDist.psd1'
    Import-Module $ModuleManifest -Force
    $script:repetitions = if ($env:LLAMADIST_BENCH_REPETITIONS) { [int]$env:LLAMADIST_BENCH_REPETITIONS } else { 3 }
    $script:threads = if ($env:LLAMADIST_BENCH_THREADS) { [int]$env:LLAMADIST_BENCH_THREADS } else { 2 }
    $script:preset = if ($env:LLAMADIST_BENCH_PRESET) { $env:LLAMADIST_BENCH_PRESET } else { 'TinyLlama' }
    $script:promptSizes = if ($env:LLAMADIST_BENCH_PROMPTS) { [int[]]($env:LLAMADIST_BENCH_PROMPTS -split ',') } else { @(128, 512) }
    $script:genTokens = if ($env:LLAMADIST_BENCH_GEN) { [int]$env:LLAMADIST_BENCH_GEN } else { 32 }
    $script:modelDirectory = Join-Path $RepositoryRoot 'out/bench-models'
    $script:resultDirectory = Join-Path $RepositoryRoot 'out/benchmarks'
    $null = New-Item -ItemType Directory -Force -Path $modelDirectory, $resultDirectory
    $script:rows = [System.Collections.Generic.List[object]]::new()
    # Other work on the machine skews the ratios, llama.cpp's spinning thread pool most: say so up front, and give
    # the load at the start and the end beside the table.
    $script:loadAtStart = if (Test-Path /proc/loadavg) { ((Get-Content /proc/loadavg) -split ' ')[0] } else { '' }
    if ($loadAtStart -and [double]$loadAtStart -gt [Environment]::ProcessorCount) {
        Write-Warning "Load average $loadAtStart on $([Environment]::ProcessorCount) logical CPUs: other work will skew these figures (llama.cpp's the most, its threads spin while they wait)."
    }
    $script:LlamaSharpLabel = 'llama.cpp (LLamaSharp 0.30 bundled build)'
    # Only a run of the documented shape (every type, both prompt sizes, tg32, 2 threads, TinyLlama) replaces the
    # table in docs/BENCHMARKS.md; a narrower one (a type or two while working on a kernel) writes its table to
    # out/benchmarks/local-decode.md and leaves the documented one whole.
    $typesMeasured = if ($env:LLAMADIST_BENCH_TYPES) { $env:LLAMADIST_BENCH_TYPES } else { 'F16,Q8_0,Q4_0,Q3_K_M,Q4_K_M,Q5_K_M,Q6_K' }
    $script:documentedShape = ($typesMeasured -eq 'F16,Q8_0,Q4_0,Q3_K_M,Q4_K_M,Q5_K_M,Q6_K') -and (($promptSizes -join ',') -eq '128,512') -and
        $genTokens -eq 32 -and $threads -eq 2 -and $preset -eq 'TinyLlama'

    function Get-BenchModel([string] $Type) {
        $path = Join-Path $modelDirectory "$preset-$Type.gguf"
        if (Test-Path $path) { return $path }
        if ($Type -like '*_K*') { $null = ConvertTo-LlamaQuantized -Path (Get-BenchModel 'F16') -Destination $path -Type $Type }
        else { $null = New-LlamaTestModel -Path $path -Preset $preset -Type $Type -Seed 1 }
        return $path
    }

    function Invoke-FreshPwsh([string] $Command, [bool] $Avx512Off) {
        # A new process, so the runtime reads the AVX-512 switches at its start; rows come back as one JSON document.
        $saved = $env:DOTNET_EnableAVX512, $env:DOTNET_EnableAVX512F
        if ($Avx512Off) { $env:DOTNET_EnableAVX512 = '0'; $env:DOTNET_EnableAVX512F = '0' }
        try {
            $output = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $Command
            if ($LASTEXITCODE -ne 0) { throw "The measuring process failed (exit code $LASTEXITCODE): $($output -join ' ')" }
        }
        finally { $env:DOTNET_EnableAVX512, $env:DOTNET_EnableAVX512F = $saved }
        return ($output -join "`n") | ConvertFrom-Json
    }

    function Invoke-Ours([string] $Model, [int] $Prompt, [int] $Gen, [int] $Rounds, [bool] $Avx512Off, [string] $LlamaCpp) {
        $reference = if ($LlamaCpp) { "-Reference LlamaCpp -LlamaCppPath '$LlamaCpp'" } else { '' }
        Invoke-FreshPwsh -Avx512Off $Avx512Off -Command @"
`$ErrorActionPreference = 'Stop'
Import-Module '$ModuleManifest'
`$rows = Invoke-LlamaBenchmark -Model '$Model' -PromptTokens $Prompt -GenTokens $Gen -Repetitions $Rounds -Threads $threads $reference
[pscustomobject]@{ Avx512 = [System.Runtime.Intrinsics.X86.Avx512F]::IsSupported; Rows = `$rows } | ConvertTo-Json -Depth 4 -Compress
"@
    }

    function Invoke-LlamaSharp([string] $Model, [int] $Prompt, [int] $Gen) {
        $runner = Get-ChildItem (Join-Path $RepositoryRoot 'tests/LlamaDist.LlamaCppRunner/bin/Release') -Recurse -Filter 'LlamaDist.LlamaCppRunner.dll' |
            Select-Object -First 1 -ExpandProperty FullName
        if (-not $runner) { throw 'The oracle runner is not built (build.ps1 -Task Benchmark builds it).' }
        $lines = & dotnet $runner bench --model $Model --threads $threads --prompt-tokens $Prompt --gen-tokens $Gen --repetitions 1
        if ($LASTEXITCODE -ne 0) { throw "The LLamaSharp runner failed on $Model." }
        $lines | Where-Object { $_ -like '{*' } | ConvertFrom-Json
    }

    # Each prompt size is its own run (Invoke-LlamaBenchmark takes one), the generation test rides with the first.
    # Returns @{ Test = @{ Ours; Reference; Ratio } } plus the run's bandwidth and memory figures.
    function Measure-Path([hashtable] $Path, [string] $Model) {
        $byTest = [ordered]@{}; $avx512 = $null
        $referenceLabel = $LlamaSharpLabel
        for ($i = 0; $i -lt $promptSizes.Count; $i++) {
            $gen = if ($i -eq 0) { $genTokens } else { 0 }
            if ($Path.LlamaCpp) {
                $result = Invoke-Ours $Model $promptSizes[$i] $gen $repetitions $Path.Avx512Off $Path.LlamaCpp
                $avx512 = $result.Avx512
                foreach ($row in $result.Rows | Where-Object Engine -eq 'LlamaDist') {
                    $byTest[$row.Test] = @{ Ours = $row.AverageTokensPerSecond; OursRow = $row }
                }
                foreach ($row in $result.Rows | Where-Object Engine -like 'llama.cpp*') {
                    $byTest[$row.Test].Reference = $row.AverageTokensPerSecond
                    $byTest[$row.Test].ReferenceFraction = $row.BandwidthFraction
                    $referenceLabel = $row.Engine.TrimEnd(')') + ", $($Path.Name) build)"
                }
                foreach ($row in $result.Rows | Where-Object Ratio -ne $null) { $byTest[$row.Test].Ratio = $row.Ratio }
            }
            else {
                # LLamaSharp's runner cannot take our process's place in a round, so rounds alternate here.
                $ours = @(); $reference = @()
                $null = Invoke-LlamaSharp $Model $promptSizes[$i] $gen
                for ($round = 0; $round -lt $repetitions; $round++) {
                    $result = Invoke-Ours $Model $promptSizes[$i] $gen 1 $Path.Avx512Off ''
                    $avx512 = $result.Avx512
                    $ours += $result.Rows
                    $reference += Invoke-LlamaSharp $Model $promptSizes[$i] $gen
                }
                foreach ($group in $ours | Group-Object Test) {
                    $oursTps = ($group.Group.AverageTokensPerSecond | Measure-Object -Average).Average
                    $referenceTps = ($reference | Where-Object test -eq $group.Name | Measure-Object -Property tps -Average).Average
                    $last = $group.Group[-1]
                    $byTest[$group.Name] = @{ Ours = $oursTps; OursRow = $last; Reference = $referenceTps; Ratio = $oursTps / $referenceTps }
                    $byTest[$group.Name].ReferenceFraction = if ($last.BandwidthFraction) { $last.BandwidthFraction * $referenceTps / $last.AverageTokensPerSecond } else { $null }
                }
            }
        }
        @{ Tests = $byTest; ReferenceLabel = $referenceLabel; Avx512 = $avx512 }
    }

    # Writes the CSV and the table of the rows so far: after every case, so a run cut short still leaves its figures.
    function Write-Results {
        if ($rows.Count -eq 0) { return }
        $rows | Export-Csv -Path (Join-Path $resultDirectory 'local-decode.csv') -NoTypeInformation
        $format = { param($value) if ($null -eq $value) { '' } else { [math]::Round([double]$value, 2) } }
        $header = '| path | type | size | ' + (($promptSizes | ForEach-Object { "ours pp$_ t/s | llama.cpp pp$_ t/s | ratio" }) -join ' | ') +
            " | ours tg$genTokens t/s | llama.cpp tg$genTokens t/s | ratio | read GB/s | ours tg / bandwidth | llama.cpp tg / bandwidth | weights' read GB/s | ours tg / weights' read | alternating: decode / read GB/s | ours tg / weights' read, alternating | RSS growth decoding | weights + KV |"
        $columns = 3 + 3 * $promptSizes.Count + 3 + 9
        $table = @(
            $header
            '|' + ('---|' * $columns)
            foreach ($row in $rows) {
                $cells = @($row.Path, $row.Type, $row.Size)
                foreach ($size in $promptSizes) { $cells += (& $format $row."OursPp$size"), (& $format $row."ReferencePp$size"), "$(& $format $row."RatioPp$size")x" }
                $cells += (& $format $row.OursTg), (& $format $row.ReferenceTg), "$(& $format $row.RatioTg)x", $row.BandwidthGBps,
                    $row.OursOfBandwidth, $row.ReferenceOfBandwidth, $row.WeightReadGBps, $row.OursOfWeightRead, $row.AlternatingGBps, $row.OursOfWeightReadAlternating, $row.ResidentGrowth, $row.WeightsAndKv
                '| ' + ($cells -join ' | ') + ' |'
            }
        ) -join "`n"
        $cpu = Get-CpuDescription
        $references = ($rows | Group-Object Path | ForEach-Object { "$($_.Name): $($_.Group[0].Reference)" }) -join '; '
        $footer = @(
            "$threads threads, $preset shape, $repetitions alternating rounds (means), measured $(Get-Date -Format 'yyyy-MM-dd') on $([Environment]::ProcessorCount) logical CPUs, .NET $([Environment]::Version)$(if (Test-Path /proc/loadavg) { ", load average $loadAtStart at the start and $(((Get-Content /proc/loadavg) -split ' ')[0]) at the end" })."
            "Paths: native = ours as the runtime starts; avx2 = ours with DOTNET_EnableAVX512=0 (AVX-512 off). References: $references."
            "CPU: $($cpu.Model)"
            ''
            "Flags: ``$($cpu.Flags)``"
        ) -join "`n"
        if ($documentedShape) {
            $benchmarks = Join-Path $RepositoryRoot 'docs/BENCHMARKS.md'
            $section = "<!-- local-decode:start -->`n$table`n`n$footer`n<!-- local-decode:end -->"
            $text = Get-Content $benchmarks -Raw
            $text = [regex]::Replace($text, '(?s)<!-- local-decode:start -->.*<!-- local-decode:end -->', [System.Text.RegularExpressions.MatchEvaluator] { param($m) $section })
            Set-Content -Path $benchmarks -Value $text.TrimEnd() -NoNewline
        }
        else {
            Set-Content -Path (Join-Path $resultDirectory 'local-decode.md') -Value "$table`n`n$footer"
        }
        Write-Host $table
    }

    function Get-CpuDescription {
        if (Test-Path /proc/cpuinfo) {
            $info = Get-Content /proc/cpuinfo
            $model = ($info | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^[^:]*:\s*', ''
            $flags = ($info | Where-Object { $_ -like 'flags*' } | Select-Object -First 1) -replace '^[^:]*:\s*', ''
            return @{ Model = $model; Flags = $flags }
        }
        @{ Model = $env:PROCESSOR_IDENTIFIER; Flags = '' }
    }
}

AfterAll {
    Write-Results
}

Describe 'Local prompt and decode speed against llama.cpp' -Tag 'Benchmark' {
    It '<Path.Name>: <Type>' -ForEach $cases {
        $model = Get-BenchModel $Type
        $measured = Measure-Path $Path $model
        # The AVX2 path must really run without AVX-512, or its figures say nothing about AVX2 machines.
        $measured.Avx512 | Should -Be (-not $Path.Avx512Off -and [System.Runtime.Intrinsics.X86.Avx512F]::IsSupported)

        $tg = $measured.Tests["tg$genTokens"]
        $row = [ordered]@{
            Path      = $Path.Name
            Type      = $Type
            Size      = '{0:0.00} GB' -f ((Get-Item $model).Length / 1e9)
            Threads   = $threads
            Reference = $measured.ReferenceLabel
        }
        foreach ($size in $promptSizes) {
            $test = $measured.Tests["pp$size"]
            $row["OursPp$size"] = $test.Ours; $row["ReferencePp$size"] = $test.Reference; $row["RatioPp$size"] = $test.Ratio
        }
        $row.OursTg = $tg.Ours; $row.ReferenceTg = $tg.Reference; $row.RatioTg = $tg.Ratio
        # The probe of the run that decoded, the one its fractions divide by (the bandwidth a 2-core VM gets moves
        # with its neighbours' load, by several times within minutes).
        $row.BandwidthGBps = $tg.OursRow.ReadBandwidthGBps
        $row.OursOfBandwidth = '{0:0}%' -f (100 * $tg.OursRow.BandwidthFraction)
        $row.ReferenceOfBandwidth = if ($null -ne $tg.ReferenceFraction) { '{0:0}%' -f (100 * $tg.ReferenceFraction) } else { '' }
        # The same threads streaming the weights where ours keeps them: fresh memory (the probe's) can sit in faster
        # or slower memory than the weights' pages, so this is the bound of that process's decoding.
        $row.WeightReadGBps = $tg.OursRow.WeightReadGBps
        $row.OursOfWeightRead = if ($null -ne $tg.OursRow.WeightReadFraction) { '{0:0}%' -f (100 * $tg.OursRow.WeightReadFraction) } else { '' }
        # Decode steps alternated with reads of those pages after the tests: both rates in the same seconds, where the
        # column before compares a decode run with reads taken afterwards (the pages' rate moves between moments).
        $row.AlternatingGBps = if ($null -ne $tg.OursRow.AlternatingReadFraction) { '{0:0.0} / {1:0.0}' -f $tg.OursRow.AlternatingDecodeGBps, $tg.OursRow.AlternatingReadGBps } else { '' }
        $row.OursOfWeightReadAlternating = if ($null -ne $tg.OursRow.AlternatingReadFraction) { '{0:0}%' -f (100 * $tg.OursRow.AlternatingReadFraction) } else { '' }
        $growth = $tg.OursRow.PeakResidentBytes - $tg.OursRow.BaselineResidentBytes
        $row.ResidentGrowth = '{0:0} MiB' -f ($growth / 1MB)
        $row.WeightsAndKv = '{0:0} MiB' -f ($tg.OursRow.WeightAndCacheBytes / 1MB)
        $row.ResidentBeyondWeightsAndKvMiB = [math]::Round(($growth - $tg.OursRow.WeightAndCacheBytes) / 1MB, 1)
        $rows.Add([pscustomobject]$row)
        [pscustomobject]$row | Format-List | Out-Host
        Write-Results

        $tg.Ours | Should -BeGreaterThan 0
        $tg.Reference | Should -BeGreaterThan 0
        $tg.OursRow.PeakResidentBytes | Should -BeGreaterThan $tg.OursRow.BaselineResidentBytes
    }
}
