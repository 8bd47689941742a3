#!/usr/bin/env bash
# Runs the LlamaDist device check on a GPU machine (NVIDIA driver and CUDA; no .NET needed) and leaves
# devicecheck.csv, devicecheck.md and the console log in $OUT (default: ./devicecheck-out).
# Build it first with: dotnet pwsh ./build.ps1 -Task DeviceCheck   (output: out/devicecheck, this script included)
# Usage: run-gpu-check.sh [--backend cuda|opencl|ilgpucpu] [--time-limit SECONDS] [--short]
set -u
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$PWD/devicecheck-out}"
mkdir -p "$OUT"
binary="$here/LlamaDist.DeviceCheck"
if [ ! -x "$binary" ]; then
    echo "LlamaDist.DeviceCheck not found next to this script ($here); run build.ps1 -Task DeviceCheck and copy out/devicecheck." | tee "$OUT/devicecheck.log"
    exit 2
fi
{
    echo "== nvidia-smi"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1 || echo "nvidia-smi not available"
    echo "== device check"
} > "$OUT/devicecheck.log"
# The whole check bounds itself (330 s by default); the outer timeout only guards against a hung driver call.
# DOTNET_BUNDLE_EXTRACT_BASE_DIR: where the single file extracts its native runtime pieces (a writable temp folder).
export DOTNET_BUNDLE_EXTRACT_BASE_DIR="${DOTNET_BUNDLE_EXTRACT_BASE_DIR:-${TMPDIR:-/tmp}/llamadist-devicecheck-bundle}"
timeout 360 "$binary" --out "$OUT" "$@" 2>&1 | tee -a "$OUT/devicecheck.log"
status=${PIPESTATUS[0]}
echo "== exit code $status" | tee -a "$OUT/devicecheck.log"
exit "$status"
