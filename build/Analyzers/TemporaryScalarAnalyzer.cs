using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Contramask.Analyzers;

/// <summary>
/// TorchSharp (0.107) turns .NET numbers into <c>TorchSharp.Scalar</c> objects, passes only their native handle to
/// libtorch, and leaves the managed object unreachable during the call. A garbage collection then may run its
/// finalizer, which frees the native scalar while libtorch still reads it: an exception ("Expected false to be
/// true … toFloat"), or silently a wrong number (TorchSharp pull requests #1434 and #1496). This analyzer makes
/// the library's build fail on every form that does that, so the fix cannot regress:
/// <list type="bullet">
/// <item>CM0001: a number converted to a Scalar (or Tensor) at the call site: <c>x * 0.5</c>, <c>x.clamp_min(1e-6)</c>,
/// a <c>ToScalar()</c> passed straight on. Use a held Scalar: <c>Scalars.Of(0.5)</c> or a <c>using var</c> local.</item>
/// <item>CM0002: a TorchSharp member that makes the temporary Scalar itself: every <c>+</c> on tensors (it calls
/// <c>add(other, 1)</c>), <c>Scalar − Tensor</c>, every Tensor operator with a number operand, <c>add(Tensor)</c>,
/// <c>square()</c> (<c>pow(2)</c>), TorchSharp's BatchNorm (<c>num_batches_tracked.add_(1)</c>), <c>(double)tensor</c>.</item>
/// <item>CM0003: TorchSharp's optimizers, whose step converts numbers for every parameter.</item>
/// <item>CM0004: a Scalar converted to a Tensor (<c>where(mask, Scalars.Of(-1.0), Scalars.Of(1.0))</c>): TorchSharp
/// declares that implicit conversion but implements it as a throw ("Should not be called."), so the code compiles
/// and fails the first time it runs.</item>
/// </list>
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class TemporaryScalarAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor TemporaryScalar = new(
        "CM0001", "Temporary TorchSharp Scalar",
        "{0} becomes a temporary {1} that nothing keeps alive while libtorch reads it; pass a held one (Scalars.Of(value) or a 'using var' local)",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InternalTemporaryScalar = new(
        "CM0002", "TorchSharp member that creates a temporary Scalar",
        "TorchSharp's {0} creates a temporary Scalar inside; use {1}",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TorchSharpOptimizer = new(
        "CM0003", "TorchSharp optimizer",
        "TorchSharp's optimizers convert numbers to temporary Scalars for every parameter on every step; use Contramask.Training.AdamW",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ScalarToTensor = new(
        "CM0004", "Scalar converted to a Tensor",
        "'{0}' is a Scalar converted to a Tensor; TorchSharp implements that conversion as a throw (\"Should not be called.\"); build a tensor (full, ones, zeros) instead",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => [TemporaryScalar, InternalTemporaryScalar, TorchSharpOptimizer, ScalarToTensor];

    const string ScalarType = "TorchSharp.Scalar";
    const string TensorType = "TorchSharp.torch.Tensor";

    /// <summary>
    /// TorchSharp members (type, name, parameter types) that build a Scalar from a number internally and pass only
    /// its handle on, with what to call instead. From reading TorchSharp 0.107's source (Tensor.Math.cs: add(target)
    /// is add(target, 1), square() is pow(2); BatchNorm.cs: num_batches_tracked.add_(1); TensorExtensionMethods.cs:
    /// ToDouble() and friends go through value.ToScalar()); see docs/ENGINEERING.md.
    /// </summary>
    static readonly (string Type, string Name, string[]? Parameters, string Instead)[] Unsafe =
    [
        (TensorType, "add", [TensorType], "add(other, Scalars.One)"),
        (TensorType, "add_", [TensorType], "add_(other, Scalars.One)"),
        (TensorType, "add", [ScalarType], "add(value, Scalars.One)"),
        (TensorType, "add_", [ScalarType], "add_(value, Scalars.One)"),
        (TensorType, "addcdiv", [TensorType, TensorType], "addcdiv(a, b, Scalars.One)"),
        (TensorType, "addcdiv_", [TensorType, TensorType], "addcdiv_(a, b, Scalars.One)"),
        (TensorType, "square", [], "x.mul(x) or pow(Scalars.Of(2L))"),
        (TensorType, "ToScalar", [], "item<T>()"),
        (TensorType, "square_", [], "x.mul_(x)"),
        ("TorchSharp.torch", "square", null, "x.mul(x)"),
        ("TorchSharp.torch", "add", null, "a.add(b, Scalars.One)"),
        ("TorchSharp.torch", "add_", null, "a.add_(b, Scalars.One)"),
        ("TorchSharp.torch.nn", "BatchNorm1d", null, "Contramask.Models.BatchNorm"),
        ("TorchSharp.torch.nn", "BatchNorm2d", null, "Contramask.Models.BatchNorm"),
        ("TorchSharp.torch.nn", "BatchNorm3d", null, "Contramask.Models.BatchNorm"),
        ("TorchSharp.TensorExtensionMethods", "ToScalar", null, "item<T>()"),
        ("TorchSharp.TensorExtensionMethods", "ToHalf", null, "item<Half>()"),
        ("TorchSharp.TensorExtensionMethods", "ToBFloat16", null, "item<BFloat16>()"),
        ("TorchSharp.TensorExtensionMethods", "ToByte", null, "item<byte>()"),
        ("TorchSharp.TensorExtensionMethods", "ToSByte", null, "item<sbyte>()"),
        ("TorchSharp.TensorExtensionMethods", "ToInt16", null, "item<short>()"),
        ("TorchSharp.TensorExtensionMethods", "ToSingle", null, "item<float>()"),
        ("TorchSharp.TensorExtensionMethods", "ToDouble", null, "item<double>()"),
        ("TorchSharp.TensorExtensionMethods", "ToInt32", null, "item<int>()"),
        ("TorchSharp.TensorExtensionMethods", "ToInt64", null, "item<long>()"),
        ("TorchSharp.TensorExtensionMethods", "ToBoolean", null, "item<bool>()"),
    ];

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterOperationAction(AnalyzeConversion, OperationKind.Conversion);
        context.RegisterOperationAction(AnalyzeOperator, OperationKind.Binary, OperationKind.CompoundAssignment);
        context.RegisterOperationAction(AnalyzeInvocation, OperationKind.Invocation);
        context.RegisterOperationAction(AnalyzeCreation, OperationKind.ObjectCreation);
    }

    static string Name(ITypeSymbol? type) => type?.ToDisplayString(SymbolDisplayFormat.CSharpErrorMessageFormat.WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.None)) ?? "";

    static string FullName(ITypeSymbol? type) => type is null ? "" : type.ContainingNamespace is { IsGlobalNamespace: false } ns
        ? (type.ContainingType is { } outer ? FullName(outer) : ns.ToDisplayString()) + "." + type.Name
        : type.Name;

    static bool IsNumber(ITypeSymbol? type) => type?.SpecialType is SpecialType.System_Byte or SpecialType.System_SByte or SpecialType.System_Int16
        or SpecialType.System_Int32 or SpecialType.System_Int64 or SpecialType.System_Single or SpecialType.System_Double or SpecialType.System_Boolean
        || FullName(type) is "System.Half" or "TorchSharp.BFloat16" or "System.Numerics.Complex";

    static void AnalyzeConversion(OperationAnalysisContext context)
    {
        var conversion = (IConversionOperation)context.Operation;
        if (!conversion.Conversion.IsUserDefined) return;
        string target = FullName(conversion.Type);
        if (FullName(conversion.Operand.Type) == TensorType && IsNumber(conversion.Type))
        {
            // (double)t reads the value through a temporary Scalar (TensorExtensionMethods.ToDouble).
            context.ReportDiagnostic(Diagnostic.Create(InternalTemporaryScalar, conversion.Syntax.GetLocation(), $"conversion of a Tensor to {Name(conversion.Type)}", "item<T>()"));
            return;
        }
        if (target == TensorType && FullName(conversion.Operand.Type) == ScalarType)
        {
            context.ReportDiagnostic(Diagnostic.Create(ScalarToTensor, conversion.Syntax.GetLocation(), conversion.Operand.Syntax.ToString()));
            return;
        }
        if (target is not (ScalarType or TensorType)) return;
        if (!IsNumber(conversion.Operand.Type)) return;
        context.ReportDiagnostic(Diagnostic.Create(TemporaryScalar, conversion.Syntax.GetLocation(),
            $"'{conversion.Operand.Syntax}'", target == ScalarType ? "Scalar" : "Tensor"));
    }

    static void AnalyzeOperator(OperationAnalysisContext context)
    {
        var method = context.Operation switch
        {
            IBinaryOperation b => b.OperatorMethod,
            ICompoundAssignmentOperation c => c.OperatorMethod,
            _ => null,
        };
        if (method is null || FullName(method.ContainingType) != TensorType) return;
        var parameters = method.Parameters.Select(p => p.Type).ToArray();
        bool numberOperand = parameters.Any(IsNumber);
        // Every + ends in add(x, 1), and Scalar − Tensor is right.negative().add(left): both pass a temporary alpha.
        bool addition = method.Name == "op_Addition";
        bool scalarMinusTensor = method.Name == "op_Subtraction" && FullName(parameters[0]) != TensorType;
        if (!numberOperand && !addition && !scalarMinusTensor) return;
        string instead = addition ? "a.add(b, Scalars.One)"
            : scalarMinusTensor ? "Scalars.OneMinus(x) or x.neg().add_(held, Scalars.One)"
            : "the operator with a held Scalar operand (x * Scalars.Of(0.5))";
        context.ReportDiagnostic(Diagnostic.Create(InternalTemporaryScalar, context.Operation.Syntax.GetLocation(),
            $"operator ({string.Join(", ", parameters.Select(Name))})", instead));
    }

    static void AnalyzeInvocation(OperationAnalysisContext context)
    {
        var invocation = (IInvocationOperation)context.Operation;
        var method = invocation.TargetMethod.ReducedFrom ?? invocation.TargetMethod;
        string type = FullName(method.ContainingType);
        // torch.arange(stop) and arange(start, stop) make the missing start 0 and step 1 as temporary Scalars.
        if (method.Name == "arange" && type == "TorchSharp.torch" && method.Parameters.Count(p => FullName(p.Type) == ScalarType) < 3)
        {
            context.ReportDiagnostic(Diagnostic.Create(InternalTemporaryScalar, invocation.Syntax.GetLocation(),
                "arange(stop) / arange(start, stop)", "arange(start, stop, step) with held Scalars: arange(Scalars.Of(0L), Scalars.Of(n), Scalars.One)"));
            return;
        }
        bool fresh = method.Name == "Fresh" && type == "Contramask.Runtime.Scalars";
        if (fresh || method.Name == "ToScalar" && type == "TorchSharp.ScalarExtensionMethods")
        {
            // Held when it initializes a local or is assigned to a variable; a temporary when passed straight on.
            var parent = invocation.Parent;
            while (parent is IConversionOperation { IsImplicit: true }) parent = parent.Parent;
            if (parent is not (IVariableInitializerOperation or ISimpleAssignmentOperation))
                context.ReportDiagnostic(Diagnostic.Create(TemporaryScalar, invocation.Syntax.GetLocation(), $"'{invocation.Syntax}'", "Scalar"));
            return;
        }
        var parameters = invocation.TargetMethod.Parameters.Select(p => FullName(p.Type)).ToArray();
        if (invocation.TargetMethod.ReducedFrom is not null) parameters = method.Parameters.Skip(1).Select(p => FullName(p.Type)).ToArray();
        foreach (var (unsafeType, name, unsafeParameters, instead) in Unsafe)
            if (type == unsafeType && method.Name == name && (unsafeParameters is null || parameters.SequenceEqual(unsafeParameters)))
            {
                context.ReportDiagnostic(Diagnostic.Create(InternalTemporaryScalar, invocation.Syntax.GetLocation(),
                    $"{name}({string.Join(", ", parameters.Select(p => p.Substring(p.LastIndexOf('.') + 1)))})", instead));
                return;
            }
        if (type == "TorchSharp.torch.optim" && IsOptimizer(invocation.TargetMethod.ReturnType))
            context.ReportDiagnostic(Diagnostic.Create(TorchSharpOptimizer, invocation.Syntax.GetLocation()));
    }

    static void AnalyzeCreation(OperationAnalysisContext context)
    {
        var creation = (IObjectCreationOperation)context.Operation;
        if (IsOptimizer(creation.Type)) context.ReportDiagnostic(Diagnostic.Create(TorchSharpOptimizer, creation.Syntax.GetLocation()));
    }

    static bool IsOptimizer(ITypeSymbol? type)
    {
        for (var t = type; t is not null; t = t.BaseType)
            if (FullName(t) == "TorchSharp.Modules.OptimizerHelper") return true;
        return false;
    }
}
