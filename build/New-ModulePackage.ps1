<#
.SYNOPSIS
    Lays the built module out as an installable folder (out/package/LlamaDist/<version>) and zips it.
.DESCRIPTION
    The repository manifest points at module/...; the packaged manifest points at paths inside the package.
    The package is checked by importing it in a fresh process and listing its commands.
#>
param(
    [Parameter(Mandatory)] [string] $RepositoryRoot,
    [Parameter(Mandatory)] [string] $OutputDirectory
)
$ErrorActionPreference = 'Stop'

$manifest = Import-PowerShellDataFile (Join-Path $RepositoryRoot 'LlamaDist.psd1')
$version = $manifest.ModuleVersion
$packageRoot = Join-Path $OutputDirectory 'package'
$moduleDirectory = Join-Path $packageRoot "LlamaDist/$version"
if (Test-Path $packageRoot) { Remove-Item $packageRoot -Recurse -Force }
$null = New-Item -ItemType Directory -Path $moduleDirectory -Force

Copy-Item (Join-Path $RepositoryRoot 'module/bin') (Join-Path $moduleDirectory 'bin') -Recurse
Copy-Item (Join-Path $RepositoryRoot 'module/Models') (Join-Path $moduleDirectory 'Models') -Recurse
Copy-Item (Join-Path $RepositoryRoot 'module/LlamaDist.Format.ps1xml') $moduleDirectory
Copy-Item (Join-Path $RepositoryRoot 'README.md') $moduleDirectory

# Same manifest, paths relative to the package folder instead of the repository root.
(Get-Content (Join-Path $RepositoryRoot 'LlamaDist.psd1') -Raw) `
    -replace "'module/bin/", "'bin/" `
    -replace "'module/LlamaDist.Format.ps1xml'", "'LlamaDist.Format.ps1xml'" |
    Set-Content (Join-Path $moduleDirectory 'LlamaDist.psd1')

$archive = Join-Path $OutputDirectory "LlamaDist-$version.zip"
if (Test-Path $archive) { Remove-Item $archive -Force }
Compress-Archive -Path (Join-Path $packageRoot 'LlamaDist') -DestinationPath $archive

$pwshDll = Join-Path $PSHOME 'pwsh.dll'
$commands = & dotnet $pwshDll -NoProfile -NonInteractive -Command "Import-Module '$moduleDirectory/LlamaDist.psd1'; (Get-Command -Module LlamaDist).Name -join ','"
if ($LASTEXITCODE -ne 0 -or -not $commands) { throw "The packaged module did not import." }
Write-Host "Packaged $archive (commands: $commands)"
