using System.Text;
using LLama;

namespace LlamaDist.Engine.Tests.Chat;

/// <summary>llama.cpp's own rendering: llama_chat_apply_template through LLamaSharp's LLamaTemplate (template string, no model).</summary>
internal static class NativeChatTemplate
{
    public static string Apply(string template, IEnumerable<(string Role, string Content)> messages, bool addAssistant)
    {
        var native = new LLamaTemplate(template) { AddAssistant = addAssistant };
        foreach (var (role, content) in messages)
        {
            native.Add(role, content);
        }
        return Encoding.UTF8.GetString(native.Apply());
    }

    /// <summary>The family names the native library knows (llama_chat_builtin_templates), sorted.</summary>
    public static unsafe string[] BuiltinNames()
    {
        int count = LLama.Native.NativeApi.llama_chat_builtin_templates(null, 0);
        var pointers = new IntPtr[count];
        fixed (IntPtr* output = pointers)
        {
            LLama.Native.NativeApi.llama_chat_builtin_templates((char**)output, (nuint)count);
        }
        return pointers.Select(name => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(name)!).Order(StringComparer.Ordinal).ToArray();
    }
}
