# Shared set-up for the Pester suites: the built module and the embedded model.
$script:RepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:EmbeddedModel = Join-Path $script:RepositoryRoot 'module/Models/llama-2-tiny-random.gguf'
Import-Module (Join-Path $script:RepositoryRoot 'LlamaDist.psd1') -Force
# Workers record themselves (and log) under XDG_STATE_HOME, and Get-LlamaWorker lists every worker recorded there:
# the suites get a state directory of their own, so they list and stop only the workers they started. New
# sessions the tests start inherit it.
if (-not $env:LLAMADIST_TEST_STATE) {
    $env:LLAMADIST_TEST_STATE = Join-Path ([IO.Path]::GetTempPath()) "llamadist-pester-state-$PID"
}
$env:XDG_STATE_HOME = $env:LLAMADIST_TEST_STATE

function Get-ErrorRecordOf {
    # The first ErrorRecord a script block produces, written (non-terminating) or thrown, or $null.
    # ErrorActionPreference Stop turns a written error into a thrown one, whatever the caller's preference.
    param([scriptblock] $ScriptBlock)
    try {
        $ErrorActionPreference = 'Stop'
        $null = & $ScriptBlock
    }
    catch {
        return $_
    }
    return $null
}

function Get-ErrorIdOf {
    # The ErrorId (FullyQualifiedErrorId without the command name) of the first error a script block produces.
    param([scriptblock] $ScriptBlock)
    $record = Get-ErrorRecordOf $ScriptBlock
    if ($null -eq $record) { return $null }
    return ($record.FullyQualifiedErrorId -split ',')[0]
}

function Find-Bytes([byte[]] $Haystack, [byte[]] $Needle) {
    for ($i = 0; $i -le $Haystack.Length - $Needle.Length; $i++) {
        $match = $true
        for ($j = 0; $j -lt $Needle.Length; $j++) { if ($Haystack[$i + $j] -ne $Needle[$j]) { $match = $false; break } }
        if ($match) { return $i }
    }
    throw "Byte pattern not found."
}

function New-ModelWithTensorType {
    # Copies a model with blk.0.attn_q.weight retyped as another ggml type id (whose data must fit in the old
    # tensor's bytes). Tensor info layout: name, n_dims (u32), dims (u64 each), type (u32), offset (u64).
    param([string] $Source, [string] $Path, [uint32] $TypeId)
    $bytes = [IO.File]::ReadAllBytes($Source)
    $name = [Text.Encoding]::ASCII.GetBytes('blk.0.attn_q.weight')
    $typeOffset = (Find-Bytes $bytes $name) + $name.Length + 4 + 2 * 8
    [BitConverter]::GetBytes($TypeId).CopyTo($bytes, $typeOffset)
    [IO.File]::WriteAllBytes($Path, $bytes)
}

function New-ModelWithTokenizer {
    # Copies the embedded model with tokenizer.ggml.model 'llama' renamed to a four-letter tokenizer model this
    # engine does not implement ('rwkv'; one byte shorter: a zero byte of alignment padding before the data section
    # keeps every tensor offset where it was).
    param([string] $Path, [ValidateLength(4, 4)][string] $TokenizerModel = 'rwkv')
    $bytes = [Collections.Generic.List[byte]]::new([IO.File]::ReadAllBytes($EmbeddedModel))
    $key = [Text.Encoding]::ASCII.GetBytes('tokenizer.ggml.model')
    $valueOffset = (Find-Bytes $bytes.ToArray() $key) + $key.Length + 4   # after the value type (u32)
    $bytes[$valueOffset] = 4                                              # string length (u64, low byte)
    $bytes.RemoveRange($valueOffset + 8, 5)
    $bytes.InsertRange($valueOffset + 8, [Text.Encoding]::ASCII.GetBytes($TokenizerModel))
    $dataOffset = 724416                                                  # unchanged: header end + padding
    $bytes.Insert($dataOffset - 1, 0)
    [IO.File]::WriteAllBytes($Path, $bytes.ToArray())
}

function New-ModelWithArchitecture {
    # Copies a llama model as another architecture of the same name length ('mamba'): general.architecture and
    # every 'llama.' key prefix are rewritten in place, so the header keeps its size and every tensor its offset.
    # Latin-1 maps bytes to characters one to one, so the text round trip changes nothing else.
    param([string] $Source, [string] $Path, [string] $Architecture)
    if ($Architecture.Length -ne 5) { throw "The architecture name must be 5 characters long, as 'llama' is." }
    $latin1 = [Text.Encoding]::Latin1
    $text = $latin1.GetString([IO.File]::ReadAllBytes($Source))
    $tensorInfos = $text.IndexOf('token_embd.weight', [StringComparison]::Ordinal)   # metadata ends before it
    $header = $text.Substring(0, $tensorInfos).Replace('llama.', "$Architecture.")
    $key = 'general.architecture'
    $value = $header.IndexOf($key, [StringComparison]::Ordinal) + $key.Length + 4 + 8  # after type (u32), length (u64)
    $header = $header.Substring(0, $value) + $Architecture + $header.Substring($value + 5)
    [IO.File]::WriteAllBytes($Path, $latin1.GetBytes($header + $text.Substring($tensorInfos)))
}
