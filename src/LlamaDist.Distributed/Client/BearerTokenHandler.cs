using System.Net.Http.Headers;
using LlamaDist.Distributed.Security;

namespace LlamaDist.Distributed.Client;

/// <summary>Adds "authorization: Bearer &lt;token&gt;" to every HTTP/2 request of a channel: unary and streaming calls alike.</summary>
internal sealed class BearerTokenHandler(string token, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private readonly AuthenticationHeaderValue header = new(ClusterToken.Scheme.Trim(), token);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = header;
        return base.SendAsync(request, cancellationToken);
    }
}
