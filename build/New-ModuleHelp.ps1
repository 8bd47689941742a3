<#
.SYNOPSIS
    Writes the module's help: <culture>/LlamaDist.PowerShell.dll-Help.xml (MAML, one command element per cmdlet)
    and the about_* topics, from module/help-src.
.DESCRIPTION
    The text comes from module/help-src/<Cmdlet-Name>.psd1 (see the README there); everything PowerShell already
    knows about a cmdlet comes from the compiled cmdlet itself, imported from the built module: parameter sets,
    types, positions, mandatory and pipeline flags, aliases, wildcards, ValidateSet values, defaults (read from a
    new instance of the cmdlet class), output types, -WhatIf/-Confirm. So help never disagrees with the code, and
    help for a new parameter is one line in its cmdlet's source file.

    Missing text (a cmdlet without a source file, a parameter without a description) is reported as a warning
    and left out; tests/Pester/Help.Tests.ps1 fails on it. A source file that cannot be read, has unknown keys or
    an example without code stops the build. Runs in a process of its own: it imports the built module.
#>
param(
    # The manifest to import (the repository's LlamaDist.psd1, after a build).
    [Parameter(Mandatory)] [string] $ManifestPath,
    # module/help-src.
    [Parameter(Mandatory)] [string] $SourceDirectory,
    # The culture folder to write (en-US beside the manifest: where PowerShell looks for a module's help).
    [Parameter(Mandatory)] [string] $OutputDirectory
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$MamlNamespace = 'http://schemas.microsoft.com/maml/2004/10'
$CommandNamespace = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$DevNamespace = 'http://schemas.microsoft.com/maml/dev/2004/10'
$AllowedKeys = @('Synopsis', 'Description', 'Parameters', 'Examples', 'Links', 'Notes', 'Outputs', 'Online')
# -WhatIf and -Confirm come with SupportsShouldProcess: their text is PowerShell's own, the same for every cmdlet.
$ShouldProcessHelp = @{
    WhatIf  = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
    Confirm = 'Prompts you for confirmation before running the cmdlet.'
}
$CommonParameters = [System.Management.Automation.Cmdlet]::CommonParameters

$module = Import-Module $ManifestPath -PassThru -Force
$projectUri = "$($module.ProjectUri)".TrimEnd('/')
if (-not $projectUri) { throw "$ManifestPath has no PrivateData.PSData.ProjectUri: the online help links are made from it." }
$warnings = [System.Collections.Generic.List[string]]::new()

function Get-Paragraphs([string] $Text) {
    # Blank lines separate paragraphs; within one, lines join with spaces, except list items ("- ") and indented
    # lines, which keep their own line.
    if ([string]::IsNullOrWhiteSpace($Text)) { return @() }
    $paragraphs = foreach ($block in ($Text.Trim() -split '\r?\n\s*\r?\n')) {
        $lines = $block -split '\r?\n'
        $current = ''
        foreach ($line in $lines) {
            if ($line -match '^\s*- ' -or $line -match '^\s{2,}\S') {
                if ($current) { $current; $current = '' }
                $line.TrimEnd()
            }
            elseif ($current) { $current = "$current $($line.Trim())" }
            else { $current = $line.Trim() }
        }
        if ($current) { $current }
    }
    return @($paragraphs)
}

function Write-Paragraphs([System.Xml.XmlWriter] $Writer, [string] $Text) {
    foreach ($paragraph in (Get-Paragraphs $Text)) { $Writer.WriteElementString('maml', 'para', $MamlNamespace, $paragraph) }
}

function Write-Description([System.Xml.XmlWriter] $Writer, [string] $Text) {
    $Writer.WriteStartElement('maml', 'description', $MamlNamespace)
    Write-Paragraphs $Writer $Text
    $Writer.WriteEndElement()
}

function Get-DisplayTypeName([type] $Type) {
    $underlying = [Nullable]::GetUnderlyingType($Type)
    if ($underlying) { $Type = $underlying }
    return $Type.Name
}

function Get-FullTypeName([type] $Type) {
    $underlying = [Nullable]::GetUnderlyingType($Type)
    if ($underlying) { $Type = $underlying }
    return $Type.FullName
}

function Get-DefaultValue([object] $Instance, [string] $Name) {
    # The value a new cmdlet object holds: what the cmdlet uses when the parameter is not given. Zero, empty and
    # null mean "not set" (the parameter's text says what happens then).
    $property = $Instance.GetType().GetProperty($Name)
    if (-not $property) { return $(if ($ShouldProcessHelp.ContainsKey($Name)) { 'False' } else { 'None' }) }
    $value = $property.GetValue($Instance)
    if ($value -is [System.Management.Automation.SwitchParameter]) { return "$($value.IsPresent)" }
    if ($null -eq $value) { return 'None' }
    if ($value -is [array]) { return $(if ($value.Count -eq 0) { 'None' } else { ($value | ForEach-Object { [string]::Format([cultureinfo]::InvariantCulture, '{0}', $_) }) -join ', ' }) }
    if ($value -is [string]) { return $(if ($value -eq '') { 'None' } else { $value }) }
    if (($value -is [int] -or $value -is [long]) -and $value -eq 0) { return 'None' }
    return [string]::Format([cultureinfo]::InvariantCulture, '{0}', $value)
}

function Get-PipelineInput([System.Management.Automation.ParameterMetadata] $Parameter) {
    $byValue = @($Parameter.ParameterSets.Values | Where-Object ValueFromPipeline).Count -gt 0
    $byName = @($Parameter.ParameterSets.Values | Where-Object ValueFromPipelineByPropertyName).Count -gt 0
    if ($byValue -and $byName) { return 'True (ByValue, ByPropertyName)' }
    if ($byValue) { return 'True (ByValue)' }
    if ($byName) { return 'True (ByPropertyName)' }
    return 'False'
}

function Write-Parameter {
    # One <command:parameter>: in a syntax item (with that set's position and mandatory flag) or in the
    # parameter list (flags over all sets).
    param([System.Xml.XmlWriter] $Writer, [System.Management.Automation.ParameterMetadata] $Parameter, [string] $Text,
        [bool] $Required, [string] $Position, [string] $Default, [switch] $InSyntax)
    $isSwitch = $Parameter.SwitchParameter
    # The values a closed set allows: a ValidateSet, or the names of an enum type (of the elements, for arrays).
    $validateSet = $Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
    $values = @(if ($validateSet) { $validateSet.ValidValues } else {
        $elementType = if ($Parameter.ParameterType.IsArray) { $Parameter.ParameterType.GetElementType() } else { $Parameter.ParameterType }
        $underlying = [Nullable]::GetUnderlyingType($elementType)
        if ($underlying) { $elementType = $underlying }
        if ($elementType.IsEnum) { [Enum]::GetNames($elementType) }
    })
    $globbing = @($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] }).Count -gt 0
    $Writer.WriteStartElement('command', 'parameter', $CommandNamespace)
    $Writer.WriteAttributeString('required', $Required.ToString().ToLowerInvariant())
    $Writer.WriteAttributeString('variableLength', $Parameter.ParameterType.IsArray.ToString().ToLowerInvariant())
    $Writer.WriteAttributeString('globbing', $globbing.ToString().ToLowerInvariant())
    $Writer.WriteAttributeString('pipelineInput', (Get-PipelineInput $Parameter))
    $Writer.WriteAttributeString('position', $Position)
    $Writer.WriteAttributeString('aliases', $(if ($Parameter.Aliases.Count) { $Parameter.Aliases -join ', ' } else { 'none' }))
    $Writer.WriteElementString('maml', 'name', $MamlNamespace, $Parameter.Name)
    Write-Description $Writer $Text
    if ($values.Count -gt 0 -and $InSyntax) {
        $Writer.WriteStartElement('command', 'parameterValueGroup', $CommandNamespace)
        foreach ($value in $values) {
            $Writer.WriteStartElement('command', 'parameterValue', $CommandNamespace)
            $Writer.WriteAttributeString('required', 'false')
            $Writer.WriteAttributeString('command', 'variableLength', $CommandNamespace, 'false')
            $Writer.WriteString($value)
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()
    }
    if (-not $isSwitch) {
        $Writer.WriteStartElement('command', 'parameterValue', $CommandNamespace)
        $Writer.WriteAttributeString('required', 'true')
        $Writer.WriteAttributeString('variableLength', $Parameter.ParameterType.IsArray.ToString().ToLowerInvariant())
        $Writer.WriteString((Get-DisplayTypeName $Parameter.ParameterType))
        $Writer.WriteEndElement()
    }
    $Writer.WriteStartElement('dev', 'type', $DevNamespace)
    $Writer.WriteElementString('maml', 'name', $MamlNamespace, (Get-DisplayTypeName $Parameter.ParameterType))
    $Writer.WriteElementString('maml', 'uri', $MamlNamespace, '')
    $Writer.WriteEndElement()
    $Writer.WriteElementString('dev', 'defaultValue', $DevNamespace, $Default)
    $Writer.WriteEndElement()
}

function Get-SortedParameterNames([System.Management.Automation.CommandParameterSetInfo] $Set) {
    # Positional parameters by position, then mandatory ones, then the rest in declaration order.
    $parameters = @($Set.Parameters | Where-Object { $_.Name -notin $CommonParameters })
    $positional = @($parameters | Where-Object { $_.Position -ge 0 } | Sort-Object Position)
    $mandatory = @($parameters | Where-Object { $_.Position -lt 0 -and $_.IsMandatory })
    $rest = @($parameters | Where-Object { $_.Position -lt 0 -and -not $_.IsMandatory })
    return @($positional + $mandatory + $rest | ForEach-Object Name)
}

function Read-HelpSource([string] $Name) {
    $path = Join-Path $SourceDirectory "$Name.psd1"
    if (-not (Test-Path -LiteralPath $path)) {
        $warnings.Add("$Name has no help source ($path).")
        return $null
    }
    $data = Import-PowerShellDataFile -LiteralPath $path
    foreach ($key in $data.Keys) {
        if ($key -notin $AllowedKeys) { throw "$path has an unknown key '$key' (allowed: $($AllowedKeys -join ', '))." }
    }
    foreach ($example in @($data['Examples'])) {
        if ($null -ne $example -and ($example -isnot [hashtable] -or -not $example['Code'] -or -not $example['Title'])) {
            throw "$path has an example without Title or Code."
        }
    }
    return $data
}

function Write-Command([System.Xml.XmlWriter] $Writer, [System.Management.Automation.CmdletInfo] $Command) {
    $name = $Command.Name
    $source = Read-HelpSource $name
    if (-not $source) { $source = @{} }
    $parameterText = if ($source['Parameters']) { $source['Parameters'] } else { @{} }
    $instance = [Activator]::CreateInstance($Command.ImplementingType)
    try {
        $names = @($Command.Parameters.Keys | Where-Object { $_ -notin $CommonParameters })
        foreach ($parameterName in $names) {
            if (-not $parameterText[$parameterName] -and -not $ShouldProcessHelp[$parameterName]) {
                $warnings.Add("$name -$parameterName has no help text.")
            }
        }
        foreach ($described in $parameterText.Keys) {
            if ($described -notin $names) { $warnings.Add("$name help describes -$described, which the cmdlet does not have.") }
        }
        $textOf = { param($p) if ($parameterText[$p]) { $parameterText[$p] } else { $ShouldProcessHelp[$p] } }

        $Writer.WriteStartElement('command', 'command', $CommandNamespace)
        $Writer.WriteStartElement('command', 'details', $CommandNamespace)
        $Writer.WriteElementString('command', 'name', $CommandNamespace, $name)
        $Writer.WriteElementString('command', 'verb', $CommandNamespace, $Command.Verb)
        $Writer.WriteElementString('command', 'noun', $CommandNamespace, $Command.Noun)
        Write-Description $Writer $source['Synopsis']
        $Writer.WriteEndElement()
        Write-Description $Writer $source['Description']

        $Writer.WriteStartElement('command', 'syntax', $CommandNamespace)
        $sets = @($Command.ParameterSets | Sort-Object { -not $_.IsDefault })
        foreach ($set in $sets) {
            $Writer.WriteStartElement('command', 'syntaxItem', $CommandNamespace)
            $Writer.WriteElementString('maml', 'name', $MamlNamespace, $name)
            foreach ($parameterName in (Get-SortedParameterNames $set)) {
                $inSet = $set.Parameters | Where-Object Name -eq $parameterName
                Write-Parameter -Writer $Writer -Parameter $Command.Parameters[$parameterName] -Text (& $textOf $parameterName) `
                    -Required $inSet.IsMandatory -Position $(if ($inSet.Position -ge 0) { "$($inSet.Position)" } else { 'named' }) `
                    -Default (Get-DefaultValue $instance $parameterName) -InSyntax
            }
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()

        $Writer.WriteStartElement('command', 'parameters', $CommandNamespace)
        $ordered = @($sets | ForEach-Object { Get-SortedParameterNames $_ } | Select-Object -Unique)
        foreach ($parameterName in $ordered) {
            $parameter = $Command.Parameters[$parameterName]
            $setInfos = @($parameter.ParameterSets.Values)
            $positions = @($setInfos | Where-Object { $_.Position -ge 0 } | ForEach-Object Position | Select-Object -Unique)
            Write-Parameter -Writer $Writer -Parameter $parameter -Text (& $textOf $parameterName) `
                -Required (@($setInfos | Where-Object { -not $_.IsMandatory }).Count -eq 0) `
                -Position $(if ($positions.Count -eq 1) { "$($positions[0])" } else { 'named' }) `
                -Default (Get-DefaultValue $instance $parameterName)
        }
        $Writer.WriteEndElement()

        # Inputs: what binds from the pipeline, read from the parameters themselves.
        $Writer.WriteStartElement('command', 'inputTypes', $CommandNamespace)
        foreach ($parameterName in $ordered) {
            $parameter = $Command.Parameters[$parameterName]
            $pipeline = Get-PipelineInput $parameter
            if ($pipeline -eq 'False') { continue }
            $Writer.WriteStartElement('command', 'inputType', $CommandNamespace)
            $Writer.WriteStartElement('dev', 'type', $DevNamespace)
            $typeName = if ($pipeline -eq 'True (ByPropertyName)') { 'System.Management.Automation.PSObject' } else { Get-FullTypeName $parameter.ParameterType }
            $Writer.WriteElementString('maml', 'name', $MamlNamespace, $typeName)
            $Writer.WriteEndElement()
            $bindings = @($parameterName) + @($parameter.Aliases)
            $how = switch ($pipeline) {
                'True (ByValue)' { "Piped values bind to -$parameterName." }
                'True (ByPropertyName)' { "Objects with a property named $($bindings -join ' or ') bind to -$parameterName." }
                default { "Piped values, or objects with a property named $($bindings -join ' or '), bind to -$parameterName." }
            }
            Write-Description $Writer $how
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()

        $Writer.WriteStartElement('command', 'returnValues', $CommandNamespace)
        foreach ($outputType in $Command.OutputType) {
            $Writer.WriteStartElement('command', 'returnValue', $CommandNamespace)
            $Writer.WriteStartElement('dev', 'type', $DevNamespace)
            $Writer.WriteElementString('maml', 'name', $MamlNamespace, $outputType.Name)
            $Writer.WriteEndElement()
            Write-Description $Writer $source['Outputs']
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()

        if ($source['Notes']) {
            $Writer.WriteStartElement('maml', 'alertSet', $MamlNamespace)
            $Writer.WriteStartElement('maml', 'alert', $MamlNamespace)
            Write-Paragraphs $Writer $source['Notes']
            $Writer.WriteEndElement()
            $Writer.WriteEndElement()
        }

        $Writer.WriteStartElement('command', 'examples', $CommandNamespace)
        $number = 0
        foreach ($example in @($source['Examples'] | Where-Object { $_ })) {
            $number++
            $Writer.WriteStartElement('command', 'example', $CommandNamespace)
            $Writer.WriteElementString('maml', 'title', $MamlNamespace, "-------------------------- Example $($number): $($example.Title) --------------------------")
            $Writer.WriteElementString('dev', 'code', $DevNamespace, $example.Code.Trim())
            $Writer.WriteStartElement('dev', 'remarks', $DevNamespace)
            Write-Paragraphs $Writer $example['Remarks']
            $Writer.WriteEndElement()
            $Writer.WriteEndElement()
        }
        if ($number -lt 2) { $warnings.Add("$name has $number example(s); two at least are expected.") }
        $Writer.WriteEndElement()

        # The first link with a URI is where Get-Help -Online goes.
        $Writer.WriteStartElement('command', 'relatedLinks', $CommandNamespace)
        $online = if ($source['Online']) { $source['Online'] } else { 'README.md' }
        $links = @(@{ Text = 'Online Version:'; Uri = "$projectUri/blob/main/$online" }) +
            @(@($source['Links'] | Where-Object { $_ }) | ForEach-Object { @{ Text = $_; Uri = '' } })
        foreach ($link in $links) {
            $Writer.WriteStartElement('maml', 'navigationLink', $MamlNamespace)
            $Writer.WriteElementString('maml', 'linkText', $MamlNamespace, $link.Text)
            $Writer.WriteElementString('maml', 'uri', $MamlNamespace, $link.Uri)
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()
        $Writer.WriteEndElement()
    }
    finally {
        if ($instance -is [IDisposable]) { $instance.Dispose() }
    }
}

$null = New-Item -ItemType Directory -Path $OutputDirectory -Force
$assemblyFile = Split-Path $module.ImplementingAssembly.Location -Leaf
$helpPath = Join-Path $OutputDirectory "$assemblyFile-Help.xml"
# Written aside and moved into place when complete: a failed run never leaves half a help file.
$partialPath = "$helpPath.partial"
$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
$writer = [System.Xml.XmlWriter]::Create($partialPath, $settings)
$complete = $false
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', 'http://msh')
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($command in ($module.ExportedCmdlets.Values | Sort-Object Name)) { Write-Command $writer $command }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
    $complete = $true
}
finally {
    $writer.Dispose()
    if ($complete) { Move-Item -LiteralPath $partialPath -Destination $helpPath -Force }
    else { Remove-Item -LiteralPath $partialPath -Force -ErrorAction SilentlyContinue }
}

# The about topics are plain text; PowerShell finds them as <module base>/<culture>/about_*.help.txt.
$topics = @(Get-ChildItem -LiteralPath $SourceDirectory -Filter 'about_*.help.txt')
foreach ($topic in $topics) { Copy-Item -LiteralPath $topic.FullName -Destination $OutputDirectory -Force }

foreach ($warning in $warnings) { Write-Warning $warning }
Write-Host "Help written: $helpPath ($($module.ExportedCmdlets.Count) cmdlets, $($topics.Count) about topics, $($warnings.Count) warnings)"
