using Microsoft.AspNetCore.OpenApi;
using Scalar.AspNetCore;

namespace AsdOrleans.Silo;

/// <summary>
/// API documentation: an operation id and a summary on every operation of the OpenAPI document (endpoints that
/// declare none get them from <see cref="Operations"/>, keyed by method and route), and Scalar's reader at /docs,
/// served from the silo (its script is embedded in Scalar.AspNetCore; no CDN).
/// </summary>
public static class ApiDocs
{
    public const string DocsPath = "/docs";

    /// <summary>Operation id and summary of the endpoints mapped elsewhere without them ("METHOD /route").</summary>
    public static readonly IReadOnlyDictionary<string, (string Id, string Summary)> Operations = new Dictionary<string, (string, string)>(StringComparer.Ordinal)
    {
        ["GET /healthz"] = ("Health", "Liveness: the process answers"),
        ["GET /readyz"] = ("Ready", "Readiness: the cluster answers grain calls and its store takes a write"),
        ["PUT /api/machines/{id}"] = ("ConfigureMachine", "Create a machine or change its settings (strategy, budget, γ, …)"),
        ["DELETE /api/machines/{id}"] = ("RetireMachine", "Retire a machine for good: its state, labels, score history, requests and kept audio go"),
        ["GET /api/machines"] = ("ListMachines", "Configured machines' statuses in id order, a page at a time (after, limit: default 1,000, at most 10,000; a full page links the next)"),
        ["GET /api/machines/{id}"] = ("GetMachine", "One machine's status: sets, counters, budget, thresholds"),
        ["POST /api/machines/{id}/enrollment"] = ("EnrollMachine", "Enroll a machine from training embeddings (keepLabels: carry its labels, their kept audio embedded again)"),
        ["POST /api/machines/{id}/enrollment/audio"] = ("EnrollMachineFromAudio", "Enroll a machine from training WAVs, embedded by the silo (?keepLabels=true: carry its labels, their kept audio embedded again)"),
        ["POST /api/machines/{id}/clips"] = ("SubmitClip", "Score one clip (WAV): alert, label request, verdict"),
        ["GET /api/whoami"] = ("WhoAmI", "The caller's key: its role, and the labeller it belongs to when it is one person's"),
        ["GET /api/label-requests"] = ("ListLabelRequests", "Pending label requests, oldest first"),
        ["GET /api/machines/{id}/clips/{clipId}/audio"] = ("GetClipAudio", "A clip's stored audio (WAV): a pending request's, a kept alert's, or a normal example's"),
        ["POST /api/machines/{id}/clips/{clipId}/label"] = ("SubmitLabel", "Answer a label request: normal or anomalous"),
        ["POST /api/machines/{id}/clips/{clipId}/decline"] = ("DeclineLabelRequest", "Close a label request without a label (the labeller cannot tell); the query stays spent"),
        ["POST /api/machines/{id}/clips/{clipId}/claim"] = ("ClaimLabelRequest", "Say who is listening to a pending clip (X-Labeller), so other labellers pick another; 409 names the labeller who holds it"),
        ["DELETE /api/machines/{id}/clips/{clipId}/claim"] = ("ReleaseLabelRequest", "End your claim on a clip (X-Labeller): it goes back to the other labellers"),
        ["GET /api/cluster"] = ("GetCluster", "The cluster's silos: status, machine grains and encoder workers each"),
        ["GET /api/alert-webhook"] = ("GetAlertWebhook", "The alert webhook this silo sends to, and the written alerts each alert-index shard has yet to deliver"),
        ["POST /api/cluster/store/accept-loss"] = ("AcceptRedisStoreLoss", "Accept that Redis lost the cluster's store (the marker /readyz names): the store is marked anew, the loss recorded, and writes taken again; answered once this silo has dropped the grain activations that lived through the loss (each grain reloads from the new store), which the other silos do within 5 s"),
        ["POST /api/cluster/spread"] = ("SpreadMachines", "One round of spreading machines onto silos below the mean (the cluster also spreads by itself 60 quiet seconds after a silo joins): each machines-role silo above it by more than 10 % deactivates some and wakes each on a silo below, which reads it from the store; ?max= (default 300) and ?perSecond= (default 100, the cluster together) bound it; answered when it has ended, with each silo's counts before and after; 409 while another round runs"),
        ["GET /api/cluster/spread"] = ("GetSpreading", "Where spreading stands: the round running now and who runs it, the last that ended (the rounds of one spreading after a join as one: machines moved, rounds, the last round's summary), and after how many quiet seconds the answering silo spreads onto a silo that joined (null: it does not)"),
        ["GET /api/cluster/machines/{id}"] = ("GetMachinePlacement", "Which silo the grain directory places a machine on, that silo's status, and whether an Active one answers (asks the directory, not the machine); 404 for a machine nobody configured or enrolled"),
    };

    public static WebApplicationBuilder AddAsdApiDocs(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<OpenApiOptions>("v1", options => options.AddOperationTransformer((operation, context, _) =>
        {
            var description = context.Description;
            string key = $"{description.HttpMethod} /{description.RelativePath?.Split('?')[0]}";
            if (Operations.TryGetValue(key, out var known))
            {
                if (string.IsNullOrEmpty(operation.OperationId)) operation.OperationId = known.Id;
                if (string.IsNullOrEmpty(operation.Summary)) operation.Summary = known.Summary;
            }
            return Task.CompletedTask;
        }));
        return builder;
    }

    public static WebApplication MapAsdApiDocs(this WebApplication app)
    {
        app.MapScalarApiReference(DocsPath, options => options
            .WithTitle("AsdOrleans silo HTTP API")
            .WithOpenApiRoutePattern(SiloWebSurface.OpenApiPath));
        return app;
    }
}
