using System.Reflection;
using LlamaDist.Core.Gguf;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Architecture;

/// <summary>
/// Dependencies point one way (Core -> Engine -> PowerShell), checked on the compiled assemblies' references.
/// </summary>
public sealed class DependencyDirectionTests
{
    [Fact]
    public void CoreReferencesOnlyTheBaseLibraryAndTensors()
    {
        var references = typeof(GgufFile).Assembly.GetReferencedAssemblies().Select(name => name.Name!).ToArray();
        Assert.Contains("System.Numerics.Tensors", references);
        Assert.All(references, name => Assert.True(
            name.StartsWith("System.", StringComparison.Ordinal) || name is "System" or "netstandard" or "mscorlib",
            $"LlamaDist.Core must depend on the base library only, but references {name}."));
    }

    [Fact]
    public void EngineReferencesCoreAndNeverTheCmdlets()
    {
        var references = typeof(LocalModel).Assembly.GetReferencedAssemblies().Select(name => name.Name!).ToArray();
        Assert.Contains("LlamaDist.Core", references);
        Assert.DoesNotContain("LlamaDist.PowerShell", references);
        Assert.DoesNotContain("System.Management.Automation", references);
    }

    [Fact]
    public void EnginePublicSurfaceExposesNoCoreTypes()
    {
        // The cmdlets live in another load context and resolve only the engine assembly, so no public member of
        // the engine may take or return a core type.
        var core = typeof(GgufFile).Assembly;
        var leaks = typeof(LocalModel).Assembly.GetExportedTypes()
            .SelectMany(type => type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .SelectMany(member => SignatureTypes(member).Select(type => (member, type)))
            .Where(entry => entry.type.Assembly == core)
            .Select(entry => $"{entry.member.DeclaringType!.Name}.{entry.member.Name} uses {entry.type.Name}")
            .ToArray();
        Assert.Empty(leaks);
    }

    private static IEnumerable<Type> SignatureTypes(MemberInfo member) => member switch
    {
        MethodInfo method => method.GetParameters().Select(p => p.ParameterType).Append(method.ReturnType).SelectMany(Unwrap),
        PropertyInfo property => Unwrap(property.PropertyType),
        FieldInfo field => Unwrap(field.FieldType),
        ConstructorInfo constructor => constructor.GetParameters().Select(p => p.ParameterType).SelectMany(Unwrap),
        _ => [],
    };

    private static IEnumerable<Type> Unwrap(Type type)
    {
        if (type.HasElementType) return Unwrap(type.GetElementType()!);
        if (type.IsGenericType) return type.GetGenericArguments().SelectMany(Unwrap).Append(type.GetGenericTypeDefinition());
        return [type];
    }
}
