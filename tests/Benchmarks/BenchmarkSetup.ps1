# Shared set-up of the distributed benchmark scripts (dot-sourced in their BeforeAll): the module, the knobs read from
# the environment, the output folders and the model they all measure.
#   LLAMADIST_BENCH_DIST_TYPE (Q8_0), LLAMADIST_BENCH_REPETITIONS (3), LLAMADIST_BENCH_PRESET (TinyLlama)
$script:RepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
Import-Module (Join-Path $RepositoryRoot 'LlamaDist.psd1') -Force
$script:repetitions = if ($env:LLAMADIST_BENCH_REPETITIONS) { [int]$env:LLAMADIST_BENCH_REPETITIONS } else { 3 }
$script:preset = if ($env:LLAMADIST_BENCH_PRESET) { $env:LLAMADIST_BENCH_PRESET } else { 'TinyLlama' }
$script:type = if ($env:LLAMADIST_BENCH_DIST_TYPE) { $env:LLAMADIST_BENCH_DIST_TYPE } else { 'Q8_0' }
$script:modelDirectory = Join-Path $RepositoryRoot 'out/bench-models'
$script:resultDirectory = Join-Path $RepositoryRoot 'out/benchmarks'
$null = New-Item -ItemType Directory -Force -Path $modelDirectory, $resultDirectory
$script:model = Join-Path $modelDirectory "$preset-$type.gguf"
if (-not (Test-Path $model)) { $null = New-LlamaTestModel -Path $model -Preset $preset -Type $type -Seed 1 }
