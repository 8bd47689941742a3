using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// The byte layout of the shard-to-shard link that carries partial sums (little endian throughout).
/// <para>Handshake, all fixed sizes or bounded before they are read:</para>
/// <code>
/// connector → acceptor  hello:   "LDPR" | version u8 | from u16 | to u16 | id length u8 | id (UTF-8) | challenge[32]
/// acceptor  → connector          challenge[32] | proof[32] (acceptor role, over the connector's challenge)
/// connector → acceptor           proof[32] (connector role, over the acceptor's challenge)
/// acceptor  → connector          0x01 (accepted)
/// </code>
/// A proof is HMAC-SHA256(session secret, label | role | challenge | from | to | id): the secret is the one the
/// coordinator gave every shard of the session when it opened it, so each end proves it belongs to that session
/// before either trusts a byte from the other.
/// <para>Then frames, one per reduction: header [sequence u64 | token count u32 | payload bytes u32] + payload.</para>
/// </summary>
internal static class PeerWire
{
    public static ReadOnlySpan<byte> Magic => "LDPR"u8;

    public const byte Version = 1;

    /// <summary>The fixed part of a hello before the id: magic, version, from, to, id length.</summary>
    public const int HelloHeaderBytes = 4 + 1 + 2 + 2 + 1;

    /// <summary>Session ids longer than this in UTF-8 cannot travel in a hello (the coordinator's are 32 characters).</summary>
    public const int MaxIdBytes = 255;

    public const int ChallengeBytes = 32;

    public const int ProofBytes = 32;

    /// <summary>Bytes of the secret a session's shards share.</summary>
    public const int SecretBytes = 32;

    public const byte Accepted = 1;

    public const int FrameHeaderBytes = 16;

    private static readonly byte[] ProofLabel = "llamadist-peer-link-v1"u8.ToArray();

    public enum Role : byte
    {
        Acceptor = 1,
        Connector = 2,
    }

    /// <summary>What a hello names.</summary>
    public readonly record struct Hello(int From, int To, string SessionId, byte[] Challenge);

    public static byte[] EncodeHello(Hello hello)
    {
        byte[] id = Encoding.UTF8.GetBytes(hello.SessionId);
        if (id.Length is 0 or > MaxIdBytes || hello.Challenge.Length != ChallengeBytes)
        {
            throw new ArgumentException($"A hello carries a session id of 1 to {MaxIdBytes} bytes and a {ChallengeBytes}-byte challenge.");
        }
        var bytes = new byte[HelloHeaderBytes + id.Length + ChallengeBytes];
        Magic.CopyTo(bytes);
        bytes[4] = Version;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(5), checked((ushort)hello.From));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(7), checked((ushort)hello.To));
        bytes[9] = (byte)id.Length;
        id.CopyTo(bytes, HelloHeaderBytes);
        hello.Challenge.CopyTo(bytes, HelloHeaderBytes + id.Length);
        return bytes;
    }

    /// <summary>Reads the fixed part of a hello; returns the id length to read next, or throws <see cref="InvalidDataException"/>.</summary>
    public static (int From, int To, int IdBytes) ParseHelloHeader(ReadOnlySpan<byte> header)
    {
        if (!header[..4].SequenceEqual(Magic) || header[4] != Version)
        {
            throw new InvalidDataException("Not a LlamaDist peer link (wrong magic or version).");
        }
        int idBytes = header[9];
        if (idBytes == 0)
        {
            throw new InvalidDataException("The hello names no session.");
        }
        return (BinaryPrimitives.ReadUInt16LittleEndian(header[5..]), BinaryPrimitives.ReadUInt16LittleEndian(header[7..]), idBytes);
    }

    /// <summary>HMAC-SHA256(secret, label | role | challenge | from | to | id).</summary>
    public static byte[] Prove(ReadOnlySpan<byte> secret, Role role, ReadOnlySpan<byte> challenge, int from, int to, string sessionId)
    {
        byte[] id = Encoding.UTF8.GetBytes(sessionId);
        var message = new byte[ProofLabel.Length + 1 + ChallengeBytes + 4 + id.Length];
        ProofLabel.CopyTo(message, 0);
        int at = ProofLabel.Length;
        message[at++] = (byte)role;
        challenge[..ChallengeBytes].CopyTo(message.AsSpan(at));
        at += ChallengeBytes;
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(at), (ushort)from);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(at + 2), (ushort)to);
        id.CopyTo(message, at + 4);
        return HMACSHA256.HashData(secret, message);
    }

    public static bool Verify(ReadOnlySpan<byte> secret, Role role, ReadOnlySpan<byte> challenge, int from, int to, string sessionId,
        ReadOnlySpan<byte> proof) =>
        proof.Length == ProofBytes && CryptographicOperations.FixedTimeEquals(Prove(secret, role, challenge, from, to, sessionId), proof);

    public static void WriteFrameHeader(Span<byte> header, long sequence, int tokens, int payloadBytes)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)tokens);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)payloadBytes);
    }

    public static (ulong Sequence, uint Tokens, uint PayloadBytes) ReadFrameHeader(ReadOnlySpan<byte> header) =>
        (BinaryPrimitives.ReadUInt64LittleEndian(header), BinaryPrimitives.ReadUInt32LittleEndian(header[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(header[12..]));
}
