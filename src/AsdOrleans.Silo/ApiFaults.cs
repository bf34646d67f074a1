using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Data.Sqlite;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Exceptions that reach the top of a request: a request the framework could not bind is the client's 4xx; a
/// cluster or storage fault is ours, logged with its cause and answered 503 with Retry-After (the request changed
/// nothing acknowledged, so retrying it is safe); anything else stays a logged 500.
/// </summary>
internal sealed partial class ApiExceptionHandler(IProblemDetailsService problems, UnreachableRedisDiagnosis unreachableRedis, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellation)
    {
        int status;
        string title, detail;
        var classified = exception is BadHttpRequestException ? null : ApiFaults.Classify(exception);
        if (exception is BadHttpRequestException bad)
        {
            (status, title, detail) = (bad.StatusCode, Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(bad.StatusCode), BindingDetail(bad)); // 400 "Bad Request", 413 "Payload Too Large": as the app's own
            logger.LogDebug(exception, "refused {Method} {Path}: {Status}", http.Request.Method, http.Request.Path, status);
        }
        else if (classified is null && ApiFaults.IsStorageDamage(exception))
        {
            // Not an outage (no 503, no Retry-After): a damaged file stays damaged until an operator restores it.
            (status, title, detail) = (StatusCodes.Status500InternalServerError, "The silo's storage is damaged", ApiFaults.StorageDamaged);
            if (FirstInAWhile(DamageLogKey))
                logger.LogError(exception, "{Method} {Path} answered 500: {Detail}", http.Request.Method, http.Request.Path, ApiFaults.StorageDamaged);
        }
        else if (classified is not null)
        {
            // "Unreachable" may be a Redis that refuses the silo's reconnections (a changed password): a fresh connection tells.
            var fault = classified.RedisUnreachable && await unreachableRedis.RefusalAsync() is { } refusal
                ? ApiFaults.Refused(refusal, classified.Cause) : classified;
            // The client gets the fault in its terms; the cause (Redis diagnostics, storage keys, Orleans stack frames
            // inside messages) goes to the silo's log only.
            (status, title, detail) = (StatusCodes.Status503ServiceUnavailable, fault.Title, fault.Detail);
            if (fault.RetryAfterSeconds is { } retryAfter)
            {
                http.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                // A silo's restart makes every caller's request meet it: one line each, the stack once in a while per kind.
                if (_retryableStackLogged.FirstInAWhile(fault.Title))
                    logger.LogWarning(exception, "{Method} {Path} answered 503 ({Title}); the same fault's later 503s are logged without the stack for {Minutes} min",
                        http.Request.Method, http.Request.Path, fault.Title, RetryableStackInterval.TotalMinutes);
                else
                    logger.LogWarning("{Method} {Path} answered 503 ({Title}): {Cause}", http.Request.Method, http.Request.Path, fault.Title, OneLine(exception));
            }
            else if (fault.OperatorMustAct is { } mustAct && FirstInAWhile(mustAct))
                logger.LogError(exception, "{Method} {Path} answered 503: Redis {Problem}", http.Request.Method, http.Request.Path, RedisRefusals.ProblemIn(mustAct, fault.Cause));
            else if (fault.Cause is EncoderModelUnavailableException)
                logger.LogError(exception, "{Method} {Path} answered 503: {Detail}", http.Request.Method, http.Request.Path, fault.Detail);
            else
                logger.LogDebug(exception, "{Method} {Path} answered 503 ({Title})", http.Request.Method, http.Request.Path, fault.Title);
        }
        else
        {
            return false; // the exception handler middleware logs it and answers 500 with a problem document
        }
        http.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    /// <summary>An operator's fault fails every request that writes (or reads) until it is fixed: its error is logged once
    /// per kind every <see cref="OperatorFaultLogInterval"/>, not once per request.</summary>
    private bool FirstInAWhile(RedisRefusal refusal) => FirstInAWhile(refusal.Kind);

    private bool FirstInAWhile(string kind) => _operatorFaultLogged.FirstInAWhile(kind);

    private const string DamageLogKey = "sqlite-damaged";
    internal static readonly TimeSpan RetryableStackInterval = TimeSpan.FromMinutes(1);
    private readonly AsdOrleans.Application.LogThrottle _retryableStackLogged = new(RetryableStackInterval);

    /// <summary>The innermost exception's type and first line of its message: what a log line needs to tell faults apart.</summary>
    internal static string OneLine(Exception exception)
    {
        var inner = exception;
        while (inner.InnerException is { } next) inner = next;
        string message = inner.Message;
        int newline = message.IndexOfAny(['\r', '\n']);
        return $"{inner.GetType().Name}: {(newline < 0 ? message : message[..newline])}";
    }

    internal static readonly TimeSpan OperatorFaultLogInterval = TimeSpan.FromMinutes(10);
    private readonly AsdOrleans.Application.LogThrottle _operatorFaultLogged = new(OperatorFaultLogInterval);

    [System.Text.RegularExpressions.GeneratedRegex(@"The JSON property '(?<name>[^']*)' could not be mapped")]
    private static partial System.Text.RegularExpressions.Regex UnknownMember();

    [System.Text.RegularExpressions.GeneratedRegex(@"missing required properties including: (?<names>.*?)\.?$")]
    private static partial System.Text.RegularExpressions.Regex MissingMembers();

    [System.Text.RegularExpressions.GeneratedRegex("^Failed to bind parameter \"(?<type>.*) (?<name>[^ \"]+)\" from \"(?<value>.*)\"\\.?$", System.Text.RegularExpressions.RegexOptions.Singleline)]
    private static partial System.Text.RegularExpressions.Regex UnboundParameter();

    /// <summary>What a parameter's value must look like, from the C# type the framework names.</summary>
    private static string ValueForm(string type) => ValueForms.InWords(type) ?? "a value of another form (see " + SiloWebSurface.OpenApiPath + ")";

    /// <summary>What was wrong with the request, in a client's terms: the framework's messages name .NET types and
    /// parameters, which a labelling service calling the API cannot act on.</summary>
    private static string BindingDetail(BadHttpRequestException e) => e switch
    {
        { InnerException: System.Text.Json.JsonException json } when UnknownMember().Match(json.Message) is { Success: true } unknown =>
            $"unknown field '{unknown.Groups["name"].Value}' (the fields this endpoint takes are in {SiloWebSurface.OpenApiPath})",
        { InnerException: System.Text.Json.JsonException json } when MissingMembers().Match(json.Message) is { Success: true } missing =>
            $"missing {(missing.Groups["names"].Value.Contains(',') ? "fields" : "field")} {missing.Groups["names"].Value}{(json.Path is { Length: > 0 } at && at != "$" ? $" at {at}" : "")} (the fields this endpoint takes are in {SiloWebSurface.OpenApiPath})",
        { InnerException: System.Text.Json.JsonException json } =>
            $"the body is not the JSON this endpoint takes ({(json.Path is { Length: > 0 } path ? $"at {path}" : "as a whole")}; its shape is in {SiloWebSurface.OpenApiPath})",
        _ when e.Message.StartsWith("Implicit body inferred", StringComparison.Ordinal) || e.Message.StartsWith("Required parameter", StringComparison.Ordinal) && e.Message.Contains("body", StringComparison.Ordinal) =>
            $"this request needs a JSON body (its shape is in {SiloWebSurface.OpenApiPath})",
        _ when UnboundParameter().Match(e.Message) is { Success: true } unbound =>
            $"parameter '{unbound.Groups["name"].Value}' must be {ValueForm(unbound.Groups["type"].Value)}, got '{unbound.Groups["value"].Value}'",
        { InnerException: { } inner } => $"{e.Message} {inner.Message}",
        _ => e.Message,
    };
}

/// <summary>A fault of ours, not the client's: <paramref name="Detail"/> says so in an API client's terms (never the cause's
/// message). <paramref name="RetryAfterSeconds"/> is how long to wait before a retry; null when no retry gets past the
/// fault until an operator acts on <paramref name="OperatorMustAct"/> (the request changed nothing, so it may be sent again then).</summary>
public sealed record ServiceFault(string Title, string Detail, Exception Cause, int? RetryAfterSeconds, RedisRefusal? OperatorMustAct = null)
{
    /// <summary>Redis did not answer or had no connection (<see cref="UnreachableRedisDiagnosis"/> tells whether it refuses the silo).</summary>
    public bool RedisUnreachable => Detail == ApiFaults.RedisUnreachable;
}

/// <summary>The silo's <see cref="AsdOrleans.Abstractions.IClusterFaults"/>: the faults its HTTP API answers 503 for.</summary>
internal sealed class ApiClusterFaults : AsdOrleans.Abstractions.IClusterFaults
{
    // A key of another type is one key's problem (one machine's state, when a listing meets it), not the cluster's.
    public bool IsClusterFault(Exception exception) => ApiFaults.Classify(exception) is { } fault && fault.OperatorMustAct != RedisRefusals.WrongType;

    // A damaged SQLite page is one machine's problem too; its reason says what an operator does.
    public string? UnreadableReason(Exception exception) => ApiFaults.IsStorageDamage(exception) ? ApiFaults.StorageDamaged : null;
}

public static class ApiFaults
{
    public const string RedisUnreachable = "the cluster's store (Redis) is unreachable; retry";
    public const string SiloUnreachable = "a silo is unreachable; retry";
    public const string ClusterTimeout = "the cluster did not answer in time; retry";
    public const string WriteConflict = "the machine's state changed on another silo meanwhile; retry";
    public const string StorageUnavailable = "the silo's storage cannot be read or written now; retry";
    public const string StorageDamaged = "the silo's database file (grains.db) is damaged where this is stored; a retry does not help: "
        + "an operator must " + AsdOrleans.Storage.Sqlite.SqliteGrainStorageCorruptException.Remedy;

    /// <summary>Whether SQLite found its file damaged on the way to <paramref name="exception"/>: permanent, unlike the
    /// storage faults <see cref="Classify"/> answers 503 for.</summary>
    public static bool IsStorageDamage(Exception exception) => Chain(exception).Any(AsdOrleans.Storage.Sqlite.SqliteGrainStorageCorruptException.IsCorruption);

    /// <summary>
    /// Cluster faults (a silo not yet declared dead, rejected or timed-out messages, Redis unreachable) and storage
    /// faults (disk full or read-only, SQLite busy, full or read-only; Redis refusing the silo: <see cref="RedisRefusals"/>);
    /// null for anything else. Exceptions of types a silo could not load arrive as Orleans' fallback exception and are
    /// matched by type name.
    /// </summary>
    public static ServiceFault? Classify(Exception exception)
    {
        foreach (var e in Chain(exception))
        {
            if (RedisRefusals.Of(e) is { } refusal) // before the cases below: a RedisStorageException may carry one
                return Refused(refusal, e);
            switch (e)
            {
                case AsdOrleans.Storage.Sqlite.SqliteGrainStateUndecodableException:
                    return null; // a damaged row: no retry gets past it (its cause may be an IOException, EndOfStream)
                case AsdOrleans.Storage.Sqlite.SqliteGrainStorageCorruptException or SqliteException { SqliteErrorCode: 11 or 26 }:
                    return null; // a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB): an operator restores it; answered by StorageDamage
                case ClusterStoreLostException: // a write that passed the gate just before the store watch saw the loss: as the gate answers
                    return new("The cluster's store needs an operator", RedisStoreWatch.ClientDetail, e, RetryAfterSeconds: null);
                case ClusterStoreNotDurableException: // likewise, just before the durability watch saw Redis's settings change
                    return new("The cluster's store needs an operator", RedisDurabilityWatch.ClientDetail, e, RetryAfterSeconds: null);
                case EncoderModelUnavailableException: // our own message; no retry helps until an operator replaces the model
                    return new("The encoder model is unavailable", e.Message, e, null);
                case NoSiloWithRoleException: // our own message, in an operator's terms
                    return new("No silo with the needed role", e.Message, e, 30);
                case MachineStateUnavailableException:
                    return new("The cluster is unavailable", e.Message, e, 5);
                case RedisConnectionException or RedisTimeoutException:
                    return new("The cluster is unavailable", RedisUnreachable, e, 5);
                case SiloUnavailableException or OrleansMessageRejectionException or ConnectionFailedException:
                    return new("The cluster is unavailable", SiloUnreachable, e, 5);
                case TimeoutException:
                    return new("The cluster is unavailable", ClusterTimeout, e, 5);
                case InconsistentStateException:
                    return new("The cluster is unavailable", WriteConflict, e, 5);
                case Orleans.Persistence.Redis.RedisStorageException when OrleansRedisErrorText.IsUndecodableGrainState(e.Message):
                    return null; // one machine's damaged state, as a damaged SQLite row: no retry gets past it
                case Orleans.Persistence.Redis.RedisStorageException:
                    return new("Storage is unavailable", RedisUnreachable, e, 30);
                case SqliteException or IOException or UnauthorizedAccessException or AsdOrleans.Storage.Sqlite.SqliteGrainStorageException:
                    return new("Storage is unavailable", StorageUnavailable, e, 30);
                case UnavailableExceptionFallbackException fallback when FallbackTypes.FirstOrDefault(t => fallback.ExceptionType?.EndsWith(t, StringComparison.Ordinal) == true) is { } type:
                    return new("The cluster or its storage is unavailable", type.StartsWith("Redis", StringComparison.Ordinal) ? RedisUnreachable
                        : type == "TimeoutException" ? ClusterTimeout : StorageUnavailable, e, 5);
            }
        }
        return null;
    }

    /// <summary>Redis refusing the silo: 503 naming the refusal, without Retry-After (no retry gets past it until an operator acts).</summary>
    public static ServiceFault Refused(RedisRefusal refusal, Exception cause)
        => new("The cluster's store needs an operator", refusal.ClientDetail, cause, RetryAfterSeconds: null, refusal);

    private static readonly string[] FallbackTypes = ["RedisConnectionException", "RedisTimeoutException", "RedisStorageException", "SqliteException", "SqliteGrainStorageException", "IOException", "TimeoutException"];

    private static IEnumerable<Exception> Chain(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            yield return e;
            if (e is AggregateException aggregate)
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Chain)) yield return inner;
        }
    }
}

/// <summary>
/// The last problem writer: ASP.NET Core's own writes only for clients that accept JSON, so a refusal of an event-stream
/// or audio request (401 for a bad key, 503 for a cluster fault) found no writer and became a 500. Every refusal is a
/// problem document, whatever the client asked for.
/// </summary>
internal sealed class AnyClientProblemWriter : IProblemDetailsWriter
{
    /// <summary>The framework's 415 for a JSON endpoint says nothing; the clip and audio-enrollment endpoints say their own.</summary>
    public static void DescribeUnsupportedMediaType(Microsoft.AspNetCore.Mvc.ProblemDetails problem, HttpContext http)
    {
        if (problem is { Status: StatusCodes.Status415UnsupportedMediaType, Detail: null })
            problem.Detail = "send the body as JSON (Content-Type: application/json); got "
                + (http.Request.ContentType is { Length: > 0 } type ? $"'{type}'" : "no Content-Type");
    }

    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        problem.Status ??= context.HttpContext.Response.StatusCode;
        problem.Title ??= Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        DescribeUnsupportedMediaType(problem, context.HttpContext); // the JSON writer's customisation does not reach this one
        return new(context.HttpContext.Response.WriteAsJsonAsync(problem, System.Text.Json.JsonSerializerOptions.Web, "application/problem+json"));
    }
}

