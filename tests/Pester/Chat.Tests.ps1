BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    function New-ModelWithChatTemplate {
        # Copies the embedded model with tokenizer.chat_template added as the first metadata entry. The entry is padded
        # (trailing spaces in the template, which no detection looks at) to a multiple of the 32-byte alignment, so the
        # data section moves by whole alignment units and every tensor offset, relative to it, stays valid.
        # Entry layout: key (u64 length + bytes), value type (u32, 8 = string), value (u64 length + bytes).
        param([string] $Path, [string] $Template)
        $bytes = [IO.File]::ReadAllBytes($EmbeddedModel)
        $key = [Text.Encoding]::UTF8.GetBytes('tokenizer.chat_template')
        $value = [Text.Encoding]::UTF8.GetBytes($Template)
        $entryLength = 8 + $key.Length + 4 + 8 + $value.Length
        $padding = (32 - $entryLength % 32) % 32
        $value = [Text.Encoding]::UTF8.GetBytes($Template + (' ' * $padding))
        $entry = [IO.MemoryStream]::new()
        $writer = [IO.BinaryWriter]::new($entry)
        $writer.Write([uint64] $key.Length); $writer.Write($key)
        $writer.Write([uint32] 8)
        $writer.Write([uint64] $value.Length); $writer.Write($value)
        $writer.Flush()
        # Header: magic (4), version (u32), tensor count (u64), metadata count (u64) at offset 16.
        $count = [BitConverter]::ToUInt64($bytes, 16) + 1
        [BitConverter]::GetBytes([uint64] $count).CopyTo($bytes, 16)
        $out = [IO.File]::Create($Path)
        try {
            $out.Write($bytes, 0, 24)
            $entry.WriteTo($out)
            $out.Write($bytes, 24, $bytes.Length - 24)
        }
        finally { $out.Dispose() }
    }

    $script:chatml = Join-Path $TestDrive 'tiny-chatml.gguf'
    New-ModelWithChatTemplate -Path $chatml -Template "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    $script:unknown = Join-Path $TestDrive 'tiny-unknown.gguf'
    New-ModelWithChatTemplate -Path $unknown -Template "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}`n{% endfor %}"
    $script:chatOptions = @{ MaxTokens = 6; Temperature = 0; Threads = 2 }
    $script:first = Invoke-LlamaChat -Model $chatml -Message 'Hello there' @chatOptions
}

Describe 'Invoke-LlamaChat' {
    It 'renders the conversation with the model''s template and returns it with the reply and timings' {
        $first | Should -BeOfType 'LlamaDist.PowerShell.Output.LlamaChatResult'
        $first.Template | Should -Be 'chatml'
        $first.Prompt | Should -BeExactly "<|im_start|>user`nHello there<|im_end|>`n<|im_start|>assistant`n"
        $first.Messages.Role | Should -Be @('user', 'assistant')
        $first.Messages[0].Content | Should -BeExactly 'Hello there'
        $first.Messages[1].Content | Should -BeExactly $first.Reply
        $first.Reply | Should -BeExactly $first.Text
        $first.GeneratedTokens | Should -BeGreaterThan 0
        $first.PromptTokens | Should -BeGreaterThan 10
        $first.PromptEvalMs | Should -BeGreaterThan 0
        $first.StopReason | Should -BeIn @('MaxTokens', 'EndOfSequence')
        ($first | Format-Table | Out-String) | Should -Match 'Template\s+Turns'
    }

    It 'continues a conversation piped back in' {
        $second = $first | Invoke-LlamaChat -Message 'and then?' @chatOptions
        $second.Messages.Role | Should -Be @('user', 'assistant', 'user', 'assistant')
        $second.Messages[1].Content | Should -BeExactly $first.Reply
        $second.Prompt | Should -BeExactly ("<|im_start|>user`nHello there<|im_end|>`n<|im_start|>assistant`n$($first.Reply)<|im_end|>`n" +
            "<|im_start|>user`nand then?<|im_end|>`n<|im_start|>assistant`n")
        $second.PromptTokens | Should -BeGreaterThan $first.PromptTokens
    }

    It 'continues a conversation saved as JSON or CliXml and read back' {
        $fromJson = $first | ConvertTo-Json -Depth 4 | ConvertFrom-Json
        $path = Join-Path $TestDrive 'conversation.xml'
        $first | Export-Clixml -Path $path
        foreach ($saved in @($fromJson, (Import-Clixml -Path $path))) {
            $next = $saved | Invoke-LlamaChat -Model $chatml -Message 'and then?' @chatOptions
            $next.Messages.Role | Should -Be @('user', 'assistant', 'user', 'assistant')
            $next.Messages[1].Content | Should -BeExactly $first.Reply
        }
    }

    It 'takes a conversation of hashtables and a system prompt' {
        $conversation = @(@{ Role = 'user'; Content = 'Hi' }, @{ Role = 'assistant'; Content = 'Hello!' })
        $result = Invoke-LlamaChat -Model $chatml -Conversation $conversation -SystemPrompt 'Be brief.' -Message 'Why?' @chatOptions
        $result.Messages.Role | Should -Be @('system', 'user', 'assistant', 'user', 'assistant')
        $result.Prompt | Should -BeLike "<|im_start|>system`nBe brief.<|im_end|>`n<|im_start|>user`nHi<|im_end|>*<|im_start|>user`nWhy?<|im_end|>`n<|im_start|>assistant`n"
    }

    It 'uses the template -ChatTemplate names instead of the model''s' {
        $result = Invoke-LlamaChat -Model $chatml -Message 'Hello there' -ChatTemplate llama3 @chatOptions
        $result.Template | Should -Be 'llama3'
        $result.Prompt | Should -BeExactly "<|start_header_id|>user<|end_header_id|>`n`nHello there<|eot_id|><|start_header_id|>assistant<|end_header_id|>`n`n"
    }

    It 'offers llama.cpp''s template names for -ChatTemplate' {
        $names = (Get-Command Invoke-LlamaChat).Parameters['ChatTemplate'].Attributes.Where({ $_ -is [ValidateSet] }).ValidValues
        $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'LlamaDist.Engine' }
        $engineNames = $engine.GetType('LlamaDist.Engine.Chat.ChatTemplateCatalog')::Names
        $names | Sort-Object | Should -Be ($engineNames | Sort-Object)
        $names | Should -Contain 'chatml'
        $names | Should -Contain 'mistral-v7'
        Get-ErrorIdOf { Invoke-LlamaChat -Model $chatml -Message 'x' -ChatTemplate 'jinja' } | Should -Be 'ParameterArgumentValidationError'
    }

    It 'refuses a template it does not recognise with UnsupportedChatTemplate' {
        $record = Get-ErrorRecordOf { Invoke-LlamaChat -Model $unknown -Message 'Hello' @chatOptions }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'UnsupportedChatTemplate'
        $record.Exception.Message | Should -BeLike '*not recognised*'
        $record.CategoryInfo.Category | Should -Be 'NotImplemented'
    }

    It 'still answers an unrecognised template when -ChatTemplate names one' {
        (Invoke-LlamaChat -Model $unknown -Message 'Hello' -ChatTemplate phi3 @chatOptions).Prompt | Should -BeExactly "<|user|>`nHello<|end|>`n<|assistant|>`n"
    }

    It 'falls back to chatml for a model without a template, as llama-server does' {
        (Invoke-LlamaChat -Model $EmbeddedModel -Message 'Hi' @chatOptions).Template | Should -Be 'chatml'
    }

    It 'refuses a conversation whose messages lack a role' {
        Get-ErrorIdOf { Invoke-LlamaChat -Model $chatml -Conversation @(@{ Text = 'x' }) -Message 'Hi' @chatOptions } | Should -Be 'InvalidConversation'
    }
}

Describe '-Stop' {
    It 'ends Invoke-LlamaPrompt''s text before a stop string, even one spanning tokens' {
        $full = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 24 -Temperature 0 -Threads 2
        $full.Text.Length | Should -BeGreaterThan 12
        # Four characters from the middle of the text: with this vocabulary they nearly always span two tokens.
        $stop = $full.Text.Substring(8, 4)
        $stopped = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 24 -Temperature 0 -Threads 2 -Stop $stop
        $stopped.StopReason | Should -Be 'StopString'
        $stopped.StopString | Should -BeExactly $stop
        $stopped.Text | Should -BeExactly $full.Text.Substring(0, $full.Text.IndexOf($stop))
        $full.StopString | Should -BeNullOrEmpty
    }

    It 'ends Invoke-LlamaChat''s reply the same way' {
        $stop = $first.Reply.Substring(2, 2)
        $stopped = Invoke-LlamaChat -Model $chatml -Message 'Hello there' @chatOptions -Stop $stop
        $stopped.StopReason | Should -Be 'StopString'
        $stopped.Reply | Should -BeExactly $first.Reply.Substring(0, $first.Reply.IndexOf($stop))
        $stopped.Messages[-1].Content | Should -BeExactly $stopped.Reply
    }
}
