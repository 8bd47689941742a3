using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.State;

namespace LlamaDist.Worker.Service;

/// <summary>
/// Binds <see cref="WorkerService"/> with request marshallers that answer a malformed message with
/// InvalidArgument. gRPC for ASP.NET Core parses a unary request before any interceptor or handler runs, so a
/// parse failure there would leave as Unknown ("Exception was thrown by handler"); an RpcException thrown by the
/// marshaller itself is delivered as its status. Streamed messages are parsed the same way, inside MoveNext.
/// The methods, names and handlers are the generated ones: only the request marshaller is wrapped.
/// </summary>
internal static class HardenedServiceBinding
{
    /// <summary>
    /// Named by <see cref="BindServiceMethodAttribute"/> on <see cref="WorkerService"/>; gRPC calls it with a null
    /// service. The parameter is the generated base type: gRPC matches handlers by the base method they override.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, LlamaWorker.LlamaWorkerBase? service) =>
        LlamaWorker.BindService(new Binder(binder), service);

    private static Method<TRequest, TResponse> Harden<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class
    {
        var inner = method.RequestMarshaller;
        var requests = Marshallers.Create(inner.ContextualSerializer, context =>
        {
            try
            {
                return inner.ContextualDeserializer(context);
            }
            catch (InvalidProtocolBufferException)
            {
                throw WorkerErrors.Invalid($"{method.FullName}: the request is not a valid {typeof(TRequest).Name} message.");
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, requests, method.ResponseMarshaller);
    }

    private sealed class Binder(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Harden(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
            ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Harden(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
            ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Harden(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
            DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Harden(method), handler);
    }
}
