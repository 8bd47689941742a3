# Help completeness, read from the compiled cmdlets: every exported cmdlet and every parameter it has (common
# parameters aside) must have text in the built help, and every cmdlet two examples that parse. A cmdlet or
# parameter added without help fails here by name (help sources: module/help-src, see its README).
BeforeDiscovery {
    $repositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    Import-Module (Join-Path $repositoryRoot 'LlamaDist.psd1') -Force
    $common = [System.Management.Automation.Cmdlet]::CommonParameters
    $script:cmdletCases = @(Get-Command -Module LlamaDist -CommandType Cmdlet | Sort-Object Name | ForEach-Object { @{ Name = $_.Name } })
    $script:parameterCases = @(foreach ($command in (Get-Command -Module LlamaDist -CommandType Cmdlet | Sort-Object Name)) {
            foreach ($parameter in ($command.Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object)) {
                @{ Name = $command.Name; Parameter = $parameter }
            }
        })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:HelpSourceDirectory = Join-Path $RepositoryRoot 'module/help-src'
    $script:Module = Get-Module LlamaDist
    $script:Common = [System.Management.Automation.Cmdlet]::CommonParameters
}

Describe 'Help for <Name>' -ForEach $cmdletCases {
    BeforeAll {
        $script:help = Get-Help $Name -Full
    }

    It 'has a synopsis and a description from the help file' {
        # Without a help file Get-Help makes the synopsis from the syntax and leaves the description empty.
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match ([regex]::Escape("$Name ["))
        ($help.description.Text -join "`n") | Should -Not -BeNullOrEmpty
    }

    It 'has at least two examples, each code that parses and uses a LlamaDist cmdlet' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 2
        $cmdlets = @($Module.ExportedCmdlets.Keys)
        foreach ($example in $examples) {
            $errors = $null
            $null = [System.Management.Automation.Language.Parser]::ParseInput($example.code, [ref] $null, [ref] $errors)
            $errors | Should -BeNullOrEmpty -Because "example '$($example.title)' of $Name must parse"
            $used = [regex]::Matches($example.code, '\b[A-Z][A-Za-z]+-Llama[A-Za-z]+\b').Value
            @($used | Where-Object { $_ -in $cmdlets }).Count | Should -BeGreaterThan 0 -Because "example '$($example.title)' should use the module"
            @($used | Where-Object { $_ -notin $cmdlets }) | Should -BeNullOrEmpty -Because 'examples name only cmdlets that exist'
        }
        @($examples | Where-Object { $_.code -match "\b$([regex]::Escape($Name))\b" }).Count | Should -BeGreaterOrEqual 2
    }

    It 'links to related commands that exist and to the online docs' {
        $links = @($help.relatedLinks.navigationLink)
        $online = $links | Where-Object { $_.uri } | Select-Object -First 1
        $prefix = "$($Module.ProjectUri.AbsoluteUri.TrimEnd('/'))/blob/main/"
        $online.uri | Should -BeLike "$prefix*"
        # The page is a file of this repository, and an anchor one of its headings (GitHub's slug of it).
        $page, $anchor = $online.uri.Substring($prefix.Length) -split '#', 2
        $pagePath = Join-Path $RepositoryRoot $page
        $pagePath | Should -Exist
        if ($anchor) {
            $slugs = Select-String -Path $pagePath -Pattern '^#+\s+(.+)$' | ForEach-Object {
                ($_.Matches[0].Groups[1].Value.ToLowerInvariant() -replace '[^a-z0-9 _-]', '') -replace ' ', '-' }
            $slugs | Should -Contain $anchor
        }
        $related = @($links | Where-Object { -not $_.uri } | ForEach-Object { $_.linkText.Trim() })
        $related.Count | Should -BeGreaterThan 0
        foreach ($target in $related) {
            if ($target -like 'about_*') { Get-Help $target | Should -Not -BeNullOrEmpty -Because "$target is linked" }
            else { Get-Command $target -Module LlamaDist -ErrorAction SilentlyContinue | Should -Not -BeNullOrEmpty -Because "$target is linked" }
        }
    }

    It 'has a help source with no text for parameters the cmdlet lacks' {
        $source = Import-PowerShellDataFile (Join-Path $HelpSourceDirectory "$Name.psd1")
        $parameters = @((Get-Command $Name).Parameters.Keys)
        @($source.Parameters.Keys | Where-Object { $_ -notin $parameters }) | Should -BeNullOrEmpty
    }
}

Describe 'Help for parameter -<Parameter> of <Name>' -ForEach $parameterCases {
    It 'has a description' {
        $parameterHelp = Get-Help $Name -Parameter $Parameter -ErrorAction SilentlyContinue
        ($parameterHelp.description.Text -join "`n").Trim() | Should -Not -BeNullOrEmpty -Because "-$Parameter of $Name needs a line in module/help-src/$Name.psd1"
    }
}

Describe 'Help as a user sees it' {
    It 'shows synopsis, parameters with defaults and examples in Get-Help -Full' {
        # Syntax lines wrap, even inside a value list: read them joined.
        $text = (Get-Help Invoke-LlamaPrompt -Full | Out-String -Width 120) -replace '\r?\n\s*', ''
        $text | Should -Match 'Generates text from a prompt'
        $text | Should -Match '-MaxTokens <Int32>'
        $text | Should -Match 'Default value\s+128'
        $text | Should -Match '-WeightMemory \{Auto\s*\|\s*Mapped\s*\|\s*Resident\}'
        $text | Should -Match '-Backend \{Auto\s*\|\s*Cpu\s*\|\s*Cuda\s*\|\s*OpenCL\s*\|\s*IlgpuCpu\}'
        $text | Should -Match 'Example 2:'
        $text | Should -Match 'Online Version: https://'
    }

    It 'finds the about topics of the imported module' -ForEach @(
        @{ Topic = 'about_LlamaDist'; Section = 'SPLITS' }
        @{ Topic = 'about_LlamaDist_Distributed'; Section = 'LEASES AND LIMITS' }
    ) {
        $text = Get-Help $Topic | Out-String
        $text | Should -Match "TOPIC\s+$Topic"
        $text | Should -Match $Section
    }

    It 'has no help source for a cmdlet the module does not export' {
        $sources = @(Get-ChildItem $HelpSourceDirectory -Filter '*.psd1' | ForEach-Object BaseName)
        @($sources | Where-Object { $_ -notin $Module.ExportedCmdlets.Keys }) | Should -BeNullOrEmpty
    }
}

Describe 'Module manifest' {
    BeforeAll {
        $script:manifest = Import-PowerShellDataFile (Join-Path $RepositoryRoot 'LlamaDist.psd1')
    }

    It 'asks for the PowerShell that runs on the .NET the binaries target' {
        # PowerShell 7.6 is the first on .NET 10; the cmdlet assembly targets the runtime major it was built for.
        $manifest.PowerShellVersion | Should -Be '7.6'
        $manifest.CompatiblePSEditions | Should -Be @('Core')
        $target = [System.Reflection.Assembly]::LoadFrom($Module.ImplementingAssembly.Location).GetCustomAttributes($true) |
            Where-Object { $_ -is [System.Runtime.Versioning.TargetFrameworkAttribute] }
        $target.FrameworkName | Should -Be '.NETCoreApp,Version=v10.0'
    }

    It 'carries the gallery metadata' {
        $data = $manifest.PrivateData.PSData
        $data.ProjectUri | Should -Match '^https://'
        $data.LicenseUri | Should -Be "$($data.ProjectUri)/blob/main/LICENSE"
        $data.Tags | Should -Contain 'GGUF'
        $data.Tags | Should -Not -Match '\s'   # gallery tags have no spaces
        $data.ReleaseNotes | Should -Match $manifest.ModuleVersion
    }

    It 'ships an MIT LICENSE' {
        $license = Get-Content (Join-Path $RepositoryRoot 'LICENSE') -Raw
        $license | Should -Match '^MIT License'
        $license | Should -Match 'Permission is hereby granted, free of charge'
    }
}
