using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Microsoft.Win32.SafeHandles;

namespace AsdOrleans.Silo;

/// <summary>
/// An audio enrollment's body, read part by part (<see cref="MultipartReader"/>) into one spool file under the data
/// directory and read back one clip at a time as its turn to be embedded comes: the silo holds a copy buffer and the
/// clips in flight, not the body (a DCASE training set is about 320 MB, and several operators may enroll at once).
/// The file goes when this is disposed, whatever the outcome.
/// </summary>
internal sealed class TrainingUpload : IDisposable
{
    /// <summary>A file part as sent: field name, file name, and where its bytes lie in the spool (not spooled: -1,
    /// a part named neither source nor target, which the enrollment refuses).</summary>
    public sealed record FilePart(string Name, string FileName, long Offset, long Length);

    /// <summary>What <see cref="ReadAsync"/> answers for a body that is not a readable form (400).</summary>
    public sealed class MalformedException(string message, Exception? inner = null) : Exception(message, inner);

    /// <summary>ASP.NET's form reader's own limit on a boundary's length.</summary>
    private const int MaxBoundaryLength = 128;
    private const int CopyBufferBytes = 81_920;

    private readonly SafeFileHandle? _spool;
    private long _spooled;

    private TrainingUpload(SafeFileHandle? spool) => _spool = spool;

    public List<FilePart> Files { get; } = [];

    /// <summary>The first part that is a form field (no file name), if any: it would otherwise be dropped without a word.</summary>
    public string? FirstField { get; private set; }

    public static string SpoolFolder(string dataDirectory) => Path.Combine(Path.GetFullPath(dataDirectory), "enrollment-spool");

    /// <summary>Reads the whole body of a form request: <see cref="MalformedException"/> for one that is not a readable form; a body over
    /// the endpoint's limit is Kestrel's BadHttpRequestException (413), a failing spool write an IOException (503).</summary>
    public static async Task<TrainingUpload> ReadAsync(HttpRequest request, string dataDirectory, int maxParts, CancellationToken cancellation)
    {
        var contentType = MediaTypeHeaderValue.Parse(request.ContentType); // parsed once: its type here, its boundary for the parts
        if (!contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            // application/x-www-form-urlencoded holds fields only, never a clip: the framework reads it as before.
            var form = await Reading(() => request.ReadFormAsync(cancellation));
            return new TrainingUpload(null) { FirstField = form.Keys.FirstOrDefault() };
        }
        var upload = new TrainingUpload(OpenSpool(dataDirectory));
        try
        {
            await upload.ReadPartsAsync(request, contentType, maxParts, cancellation);
            return upload;
        }
        catch
        {
            upload.Dispose();
            throw;
        }
    }

    private static SafeFileHandle OpenSpool(string dataDirectory)
    {
        string folder = SpoolFolder(dataDirectory);
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, Guid.NewGuid().ToString("N") + ".wavs");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
            OperatingSystem.IsWindows() ? FileOptions.DeleteOnClose : FileOptions.None);
        if (OperatingSystem.IsWindows()) return handle;
        try
        {
            // Unlinked at once: the open handle keeps the data, and a silo killed mid-enrollment leaves no file behind.
            File.Delete(path);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private async Task ReadPartsAsync(HttpRequest request, MediaTypeHeaderValue contentType, int maxParts, CancellationToken cancellation)
    {
        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary);
        if (StringSegment.IsNullOrEmpty(boundary))
            throw new MalformedException("Missing content-type boundary.");
        if (boundary.Length > MaxBoundaryLength)
            throw new MalformedException($"Multipart boundary length limit {MaxBoundaryLength} exceeded.");
        var reader = new MultipartReader(boundary.ToString(), request.Body);
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            int parts = 0;
            while (await Reading(() => reader.ReadNextSectionAsync(cancellation)) is { } section)
            {
                if (++parts > maxParts)
                    throw new MalformedException($"Form value count limit {maxParts} exceeded.");
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
                    throw new MalformedException("Form section has invalid Content-Disposition value: " + section.ContentDisposition);
                if (disposition.IsFileDisposition())
                {
                    var file = new FileMultipartSection(section, disposition);
                    // A part the enrollment refuses by its name is read past, not stored.
                    bool keep = file.Name is "source" or "target";
                    long offset = _spooled;
                    long length = await CopyAsync(section.Body, buffer, keep, cancellation);
                    Files.Add(new FilePart(file.Name, file.FileName, keep ? offset : -1, keep ? length : -1));
                }
                else
                {
                    if (disposition.IsFormDisposition())
                        FirstField ??= HeaderUtilities.RemoveQuotes(disposition.Name).ToString();
                    await CopyAsync(section.Body, buffer, keep: false, cancellation);
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Reads a part's body to its end, appending it to the spool when <paramref name="keep"/>; its length.</summary>
    private async Task<long> CopyAsync(Stream body, byte[] buffer, bool keep, CancellationToken cancellation)
    {
        long length = 0;
        while (await Reading(() => body.ReadAsync(buffer, cancellation).AsTask()) is var read and > 0)
        {
            if (keep)
            {
                await RandomAccess.WriteAsync(_spool!, buffer.AsMemory(0, read), _spooled, cancellation);
                _spooled += read;
            }
            length += read;
        }
        return length;
    }

    /// <summary>A read of the body, whose failures as a form are the client's (400); Kestrel's own
    /// (BadHttpRequestException: over the limit, 413) and a cancellation stay as they are.</summary>
    private static async Task<T> Reading<T>(Func<Task<T>> read)
    {
        try
        {
            return await read();
        }
        catch (Exception e) when (e is InvalidDataException || (e is IOException and not BadHttpRequestException))
        {
            throw new MalformedException(e.Message, e);
        }
    }

    /// <summary>A spooled part's bytes, read when its clip's turn to be embedded comes.</summary>
    public async Task<byte[]> ReadAsync(FilePart part, CancellationToken cancellation)
    {
        var wav = new byte[part.Length];
        for (int read = 0; read < wav.Length;)
        {
            int got = await RandomAccess.ReadAsync(_spool!, wav.AsMemory(read), part.Offset + read, cancellation);
            if (got == 0) throw new EndOfStreamException($"the enrollment's spool ends before part {part.FileName}");
            read += got;
        }
        return wav;
    }

    public void Dispose() => _spool?.Dispose();
}
