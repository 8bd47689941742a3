# Help for Invoke-LlamaChat (format: README.md in this folder).
@{
    Synopsis    = 'Sends a message to a chat model and returns the conversation with the reply, which pipes back in to continue it.'
    Description = @'
Invoke-LlamaChat renders the conversation (an optional system prompt, earlier turns, the new user message)
with the model's chat template exactly as llama.cpp's llama_chat_apply_template does, generates the assistant's
reply and returns a LlamaChatResult: the reply, the whole conversation as Messages (Role, Content) and the same
timings Invoke-LlamaPrompt gives. The template family is detected from the model's tokenizer.chat_template
(llama2, llama3, chatml/Qwen, phi3, phi4, gemma, mistral-v1/v3/v7, zephyr, command-r, deepseek and the rest of
llama.cpp's families); -ChatTemplate overrides the detection.

Piping a result back in continues the conversation: its Messages bind to -Conversation. The model runs here,
split across -Worker endpoints for this call, or on a -Cluster from New-LlamaCluster.
'@
    Parameters  = @{
        StageTimeout              = 'Seconds a node may give no sign of life (its health checks unanswered) before it counts as failed, even in the middle of a long prompt step; 5 by default. Also bounds each handshake (three times this, at most 15 s).'
        Failover                  = 'What happens when a node fails mid-prompt. Reassign (default): its layers move to the remaining nodes (or this process with -IncludeLocal), the session''s tokens are replayed to rebuild their KV caches and generation goes on with the same output, each failover recorded on the result; None: the prompt fails naming the node, with the partial result on the error.'
        Backend                   = 'Where the layers run: Auto (CUDA, then OpenCL, then the CPU engine; -Verbose says why), Cpu, Cuda, OpenCL or IlgpuCpu (the GPU kernels on ILGPU''s CPU accelerator). An explicit backend this machine lacks fails with BackendUnavailable.'
        Message                   = 'The user''s message: the turn the model answers. Strings from the pipeline are messages, each answered in turn.'
        Conversation              = 'The conversation to continue: an Invoke-LlamaChat result (piped in, its Messages property binds here), or messages with Role (system, user, assistant) and Content, as hashtables or objects.'
        SystemPrompt              = 'The system message; replaces the conversation''s own system message when it has one.'
        ChatTemplate              = 'The template family by llama.cpp''s name (chatml, llama3, phi3, gemma, mistral-v7 ...). Detected from the model''s tokenizer.chat_template when omitted.'
        Model                     = 'The GGUF model file. The embedded default model when omitted.'
        MaxTokens                 = 'The most tokens to generate for the reply (llama.cpp -n).'
        Temperature               = 'Sampling temperature; 0 is greedy (argmax) and matches llama.cpp token for token.'
        TopK                      = 'Keep only the K most likely tokens before sampling (llama.cpp --top-k); 0 disables it.'
        TopP                      = 'Nucleus sampling: keep the most likely tokens whose probabilities add up to P (llama.cpp --top-p); 1.0 disables it.'
        MinP                      = 'Drop tokens less likely than P times the most likely one (llama.cpp --min-p); 0 disables it.'
        RepeatPenalty             = 'Penalty for tokens among the last -RepeatLastN (llama.cpp --repeat-penalty); 1.0 disables it.'
        RepeatLastN               = 'How many of the last tokens -RepeatPenalty looks at (llama.cpp --repeat-last-n).'
        Seed                      = 'The sampler''s seed: the same seed, model, conversation and parameters give the same reply. A random seed when omitted.'
        Threads                   = 'Compute threads in this process (with -Worker, those of the local stage). The number of physical cores when omitted.'
        ContextSize               = 'The KV cache size in tokens: the rendered conversation plus the reply must fit. The model''s training context, at most 4096, when omitted.'
        Stop                      = 'Strings that end the reply: it stops just before the first one it reaches (StopReason StopString).'
        Stream                    = 'Writes the reply to the host as it is generated (the information stream, tagged PSHOST).'
        WeightMemory              = 'Where the weight matrices are read from: Auto, Mapped (the file mapping) or Resident (read into memory); see Invoke-LlamaPrompt.'
        ActivationEncoding        = 'With -Worker: how hidden states travel between nodes: F32 (the default: exactly the values a local run computes, so the output is one machine''s), F16 (half the bytes) or Q8_0 (ggml''s 8-bit blocks, about a quarter; costs in docs/RELIABILITY.md). With -Split Tensor the same choice applies to the partial sums.'
        Worker                    = 'Workers (host:port or https://host:port, in ring order) to split the model across for this call.'
        IncludeLocal              = 'With -Worker: this process runs the first layers as a stage of its own.'
        Split                     = 'With -Worker: Auto, Even, Memory, or layer counts per node in ring order, e.g. 11,11.'
        Token                     = 'With -Worker: the cluster token the workers were started with. Also -TokenFile, or LLAMADIST_TOKEN.'
        TokenFile                 = 'With -Worker: a file whose first line is the cluster token.'
        CertificateThumbprint     = 'With -Worker: SHA-256 thumbprints the workers'' TLS certificates may have (https:// endpoints).'
        ClientCertificatePath     = 'With -Worker: a PFX file with the client certificate to present to workers that require one (mutual TLS).'
        ClientCertificatePassword = 'With -Worker: the password of the -ClientCertificatePath file.'
        Cluster                   = 'A cluster from New-LlamaCluster, reused without reloading.'
    }
    Examples    = @(
        @{
            Title   = 'A conversation in two turns'
            Code    = @'
$chat = Invoke-LlamaChat -Model ./qwen.gguf -SystemPrompt 'Answer in one sentence.' -Message 'What is a GGUF file?' -Stream
$chat = $chat | Invoke-LlamaChat -Message 'And who reads it?'
$chat.Messages
'@
            Remarks = 'The second call continues the first: the result''s Messages bind to -Conversation. Messages lists system, user, assistant, user, assistant.'
        }
        @{
            Title   = 'A template chosen by name and a conversation given as hashtables'
            Code    = "Invoke-LlamaChat -Model ./model.gguf -ChatTemplate chatml -Conversation @(@{ Role = 'user'; Content = 'Hi' }, @{ Role = 'assistant'; Content = 'Hello!' }) -Message 'Go on' -MaxTokens 64"
        }
        @{
            Title   = 'Chat on a cluster'
            Code    = @'
$cluster = New-LlamaCluster -Model ./qwen.gguf -Worker 127.0.0.1:50052, 127.0.0.1:50053
Invoke-LlamaChat -Cluster $cluster -Message 'Hi!' -Temperature 0
'@
        }
    )
    Links       = @('Invoke-LlamaPrompt', 'ConvertTo-LlamaToken', 'New-LlamaCluster', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
