// Test-data generator for ../README.md: runs Beam's Java Nexmark generator (Beam 2.3.0's
// compiled classes, with StringsGenerator.nextExactString as on Beam master) and prints its
// events as JSON lines in the format of the Go AppendJSON, or SHA-256 digests of long runs.
// Not part of the Go build. Usage:
//   java Oracle events <config> <skip> <count>
//   java Oracle digest <config> <count>
//   java Oracle prices <seed> <count>
import java.security.MessageDigest;
import java.util.Random;
import org.apache.beam.sdk.nexmark.NexmarkConfiguration;
import org.apache.beam.sdk.nexmark.NexmarkUtils;
import org.apache.beam.sdk.nexmark.model.Auction;
import org.apache.beam.sdk.nexmark.model.Bid;
import org.apache.beam.sdk.nexmark.model.Event;
import org.apache.beam.sdk.nexmark.model.Person;
import org.apache.beam.sdk.nexmark.sources.generator.Generator;
import org.apache.beam.sdk.nexmark.sources.generator.GeneratorConfig;
import org.apache.beam.sdk.nexmark.sources.generator.model.PriceGenerator;

/** Prints Beam Nexmark generator output as JSON lines, or digests of it. */
public class Oracle {
  static final long BASE_TIME = 1436918400000L; // 2015-07-15T00:00:00Z, Beam's NexmarkUtils.BASE_TIME

  static GeneratorConfig config(String name, long maxEvents) {
    NexmarkConfiguration c = new NexmarkConfiguration();
    c.numEventGenerators = 1;
    switch (name) {
      case "default":
        return new GeneratorConfig(c, BASE_TIME, 0, maxEvents, 0);
      case "variant":
        c.numEventGenerators = 3;
        c.rateShape = NexmarkUtils.RateShape.SINE;
        c.firstEventRate = 10000;
        c.nextEventRate = 25000;
        c.ratePeriodSec = 20;
        c.outOfOrderGroupSize = 7;
        c.hotAuctionRatio = 3;
        c.hotSellersRatio = 5;
        c.hotBiddersRatio = 6;
        c.numInFlightAuctions = 40;
        c.numActivePeople = 300;
        c.avgPersonByteSize = 100;
        c.avgAuctionByteSize = 400;
        c.avgBidByteSize = 80;
        return new GeneratorConfig(c, 1000000000000L, 12345, maxEvents, 77);
      case "square":
        c.rateShape = NexmarkUtils.RateShape.SQUARE;
        c.firstEventRate = 600;
        c.nextEventRate = 900;
        c.rateUnit = NexmarkUtils.RateUnit.PER_MINUTE;
        c.ratePeriodSec = 30;
        return new GeneratorConfig(c, BASE_TIME, 0, maxEvents, 0);
      default:
        throw new IllegalArgumentException(name);
    }
  }

  static void str(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      if (ch == '"' || ch == '\\') {
        sb.append('\\').append(ch);
      } else if (ch < 0x20) {
        sb.append(String.format("\\u%04x", (int) ch));
      } else {
        sb.append(ch);
      }
    }
    sb.append('"');
  }

  static String json(Event e) {
    StringBuilder sb = new StringBuilder();
    if (e.newPerson != null) {
      Person p = e.newPerson;
      sb.append("{\"person\":{\"id\":").append(p.id).append(",\"name\":");
      str(sb, p.name);
      sb.append(",\"emailAddress\":");
      str(sb, p.emailAddress);
      sb.append(",\"creditCard\":");
      str(sb, p.creditCard);
      sb.append(",\"city\":");
      str(sb, p.city);
      sb.append(",\"state\":");
      str(sb, p.state);
      sb.append(",\"dateTime\":").append(p.dateTime).append(",\"extra\":");
      str(sb, p.extra);
      sb.append("}}");
    } else if (e.newAuction != null) {
      Auction a = e.newAuction;
      sb.append("{\"auction\":{\"id\":").append(a.id).append(",\"itemName\":");
      str(sb, a.itemName);
      sb.append(",\"description\":");
      str(sb, a.description);
      sb.append(",\"initialBid\":").append(a.initialBid);
      sb.append(",\"reserve\":").append(a.reserve);
      sb.append(",\"dateTime\":").append(a.dateTime);
      sb.append(",\"expires\":").append(a.expires);
      sb.append(",\"seller\":").append(a.seller);
      sb.append(",\"category\":").append(a.category);
      sb.append(",\"extra\":");
      str(sb, a.extra);
      sb.append("}}");
    } else {
      Bid b = e.bid;
      sb.append("{\"bid\":{\"auction\":").append(b.auction);
      sb.append(",\"bidder\":").append(b.bidder);
      sb.append(",\"price\":").append(b.price);
      sb.append(",\"channel\":\"\",\"url\":\"\"");
      sb.append(",\"dateTime\":").append(b.dateTime);
      sb.append(",\"extra\":");
      str(sb, b.extra);
      sb.append("}}");
    }
    return sb.toString();
  }

  static String hex(byte[] d) {
    StringBuilder sb = new StringBuilder();
    for (byte x : d) sb.append(String.format("%02x", x));
    return sb.toString();
  }

  public static void main(String[] args) throws Exception {
    String mode = args[0];
    if (mode.equals("events")) {
      // events <config> <skip> <count>
      long skip = Long.parseLong(args[2]);
      long count = Long.parseLong(args[3]);
      Generator g = new Generator(config(args[1], skip + count));
      for (long i = 0; g.hasNext(); i++) {
        Generator.NextEvent ne = g.nextEvent();
        if (i >= skip) {
          System.out.println(json(ne.event));
        }
      }
    } else if (mode.equals("digest")) {
      // digest <config> <count>: sha256 over the JSON lines, each followed by '\n'
      long count = Long.parseLong(args[2]);
      Generator g = new Generator(config(args[1], count));
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      while (g.hasNext()) {
        md.update((json(g.nextEvent().event) + "\n").getBytes("UTF-8"));
      }
      System.out.println(args[1] + " " + count + " " + hex(md.digest()));
    } else if (mode.equals("prices")) {
      // prices <seed> <count>: sha256 over the decimal prices, each followed by '\n'
      Random r = new Random(Long.parseLong(args[1]));
      long count = Long.parseLong(args[2]);
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      for (long i = 0; i < count; i++) {
        md.update((PriceGenerator.nextPrice(r) + "\n").getBytes("UTF-8"));
      }
      System.out.println("prices " + args[1] + " " + count + " " + hex(md.digest()));
    }
  }
}
