using System.Security.Authentication;
using StackExchange.Redis;

namespace AsdOrleans.Silo.Tests;

/// <summary>What <see cref="RedisRefusals"/> and <see cref="OrleansRedisErrorText"/> make of exceptions whose Redis cannot be staged here.</summary>
public sealed class RedisRefusalRecognitionTests
{
    [Fact]
    public void A_failed_tls_handshake_is_not_called_a_wrong_password()
    {
        // StackExchange.Redis gives both the failure type of refused credentials.
        var tls = new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, "AuthenticationFailure on 10.0.0.5:6380",
            new AuthenticationException("The remote certificate is invalid according to the validation procedure"));
        var password = new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, "AuthenticationFailure on 10.0.0.5:6379");
        Assert.Same(RedisRefusals.TlsRefused, RedisRefusals.Of(tls));
        Assert.Same(RedisRefusals.CredentialsRefused, RedisRefusals.Of(password));
    }

    [Theory]
    [InlineData("Orleans.Serialization.Codecs.UnexpectedLengthPrefixValueException: Unexpected length", true)]
    [InlineData("System.InvalidOperationException: the state's version is unknown", true)]
    [InlineData("StackExchange.Redis.RedisTimeoutException: Timeout performing HGETALL", false)]
    [InlineData("StackExchange.Redis.RedisConnectionException: No connection is active/available", false)]
    [InlineData("System.TimeoutException: The operation has timed out", false)]
    public void A_redis_read_that_failed_in_the_deserializer_is_one_machines_problem(string cause, bool undecodable)
    {
        string message = $"Failed to read grain state for machine with ID machine/plant.fan-01 and storage key svc/state/machine/plant.fan-01/machine. {cause}";
        Assert.Equal(undecodable, OrleansRedisErrorText.IsUndecodableGrainState(message));
    }
}
