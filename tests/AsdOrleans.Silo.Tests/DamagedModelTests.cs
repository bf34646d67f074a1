using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A model file damaged after the silo started (`asd silo` checks it at start) fails the first clip that needs it with a
/// 503 problem naming the model's problem, not a bare 500; once the file is replaced, the next call loads it.
/// </summary>
public sealed class DamagedModelTests : IDisposable
{
    private const string Key = "damaged-model-key";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-damaged-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_model_that_no_longer_loads_answers_503_naming_the_model_problem()
    {
        string modelPath = Path.Combine(_dir, "tiny.asdm");
        using (var model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed: 7, TorchSharp.torch.CPU))
            model.Save(modelPath);
        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"), ["Asd:ApiKeys:Operator:0"] = Key,
            ["Asd:ModelPath"] = modelPath, ["Asd:Device"] = "cpu",
        });
        using var http = new HttpClient { BaseAddress = address };
        http.DefaultRequestHeaders.Add("X-Api-Key", Key);
        try
        {
            byte[] good = File.ReadAllBytes(modelPath);
            byte[] bytes = (byte[])good.Clone();
            for (int i = 1; i <= 4; i++) bytes[^(i * 97)] ^= 0x5A; // four bytes of the weights
            File.WriteAllBytes(modelPath, bytes);

            const string machine = "damaged-1";
            var put = await http.PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
            var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 4, TargetTrain = 1, Test = 4, Seconds = 1, Seed = 3 });
            Task<HttpResponseMessage> Enroll()
            {
                var form = new MultipartFormDataContent();
                foreach (var (clip, i) in plan.Clips.Where(c => c.Split != SynthSplit.Test).Select((c, i) => (c, i)))
                {
                    var wav = new ByteArrayContent(WavEncoder.EncodeMono16(ClipSynthesizer.Render(clip), 16_000));
                    wav.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
                    form.Add(wav, "source", $"c{i}.wav");
                }
                return http.PostAsync($"/api/machines/{machine}/enrollment/audio", form);
            }
            var response = await Enroll();
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{response.StatusCode}: {body}");
            var problem = JsonDocument.Parse(body).RootElement;
            Assert.Equal("The encoder model is unavailable", problem.GetProperty("title").GetString());
            string detail = problem.GetProperty("detail").GetString()!;
            Assert.StartsWith("this silo's encoder model cannot be loaded: ", detail);
            Assert.Contains("damaged", detail); // the loader's own words: weights that do not match the version id or the architecture

            // The model replaced by a good one: the next call loads it, no restart (a failed load is not kept).
            File.WriteAllBytes(modelPath, good);
            var again = await Enroll();
            Assert.True(again.IsSuccessStatusCode, $"{again.StatusCode}: {await again.Content.ReadAsStringAsync()}");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
