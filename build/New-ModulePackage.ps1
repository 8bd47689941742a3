<#
.SYNOPSIS
    Lays the built module out as an installable folder (<output>/package/LlamaDist/<version>) and packs it as
    <output>/LlamaDist.<version>.nupkg, the package PSResourceGet installs (Install-PSResource, Save-PSResource).
.DESCRIPTION
    The repository manifest points at module/...; the packaged manifest points at paths inside the package. The
    package holds the compiled module (bin), the format views, the help (en-US: MAML and about topics), the
    embedded model, README, LICENSE and the third-party notices. The folder is checked by importing it in a fresh
    process and listing its commands before it is packed. Needs a completed Build (module/bin and en-US).
#>
param(
    [Parameter(Mandatory)] [string] $RepositoryRoot,
    [Parameter(Mandatory)] [string] $OutputDirectory
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

foreach ($built in @('module/bin/LlamaDist.PowerShell.dll', 'en-US/LlamaDist.PowerShell.dll-Help.xml')) {
    if (-not (Test-Path (Join-Path $RepositoryRoot $built))) { throw "$built is missing: run build.ps1 -Task Build first." }
}

$manifestPath = Join-Path $RepositoryRoot 'LlamaDist.psd1'
$version = (Import-PowerShellDataFile $manifestPath).ModuleVersion
$packageRoot = Join-Path $OutputDirectory 'package'
$moduleDirectory = Join-Path $packageRoot "LlamaDist/$version"
if (Test-Path $packageRoot) { Remove-Item $packageRoot -Recurse -Force }
$null = New-Item -ItemType Directory -Path $moduleDirectory -Force

# Debug symbols stay out of the package.
Copy-Item (Join-Path $RepositoryRoot 'module/bin') (Join-Path $moduleDirectory 'bin') -Recurse
Get-ChildItem (Join-Path $moduleDirectory 'bin') -Recurse -Filter '*.pdb' | Remove-Item -Force
Copy-Item (Join-Path $RepositoryRoot 'module/Models') (Join-Path $moduleDirectory 'Models') -Recurse
Copy-Item (Join-Path $RepositoryRoot 'en-US') (Join-Path $moduleDirectory 'en-US') -Recurse
foreach ($file in @('module/LlamaDist.Format.ps1xml', 'README.md', 'LICENSE', 'THIRD-PARTY-NOTICES.md')) {
    Copy-Item (Join-Path $RepositoryRoot $file) $moduleDirectory
}

# Same manifest, paths relative to the package folder instead of the repository root.
(Get-Content $manifestPath -Raw) `
    -replace "'module/bin/", "'bin/" `
    -replace "'module/LlamaDist.Format.ps1xml'", "'LlamaDist.Format.ps1xml'" |
    Set-Content (Join-Path $moduleDirectory 'LlamaDist.psd1')

$pwshDll = Join-Path $PSHOME 'pwsh.dll'
$pwsh = if (Test-Path $pwshDll) { @('dotnet', $pwshDll) } else { @((Join-Path $PSHOME 'pwsh')) }
$commands = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command "Import-Module '$moduleDirectory/LlamaDist.psd1'; (Get-Command -Module LlamaDist).Name -join ','"
if ($LASTEXITCODE -ne 0 -or -not $commands) { throw "The packaged module did not import." }

# The .nupkg PSResourceGet reads: the module folder with a nuspec made from the manifest (id, version, authors,
# description, tags, project and licence URIs, release notes).
$nupkg = Join-Path $OutputDirectory "LlamaDist.$version.nupkg"
if (Test-Path $nupkg) { Remove-Item $nupkg -Force }
Import-Module Microsoft.PowerShell.PSResourceGet -MinimumVersion 1.1.0
Compress-PSResource -Path $moduleDirectory -DestinationPath $OutputDirectory
if (-not (Test-Path $nupkg)) { throw "Compress-PSResource wrote no $nupkg." }
Write-Host "Packaged $nupkg ($([math]::Round((Get-Item $nupkg).Length / 1MB, 2)) MiB; commands: $commands)"
