//! Try the compiler by hand: `pcapfilter EXPR` dumps the program,
//! `pcapfilter --read FILE EXPR` prints the matching packet numbers.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [flag, file, expr] if flag == "--read" => {
            pcap_filter::cli::read(std::path::Path::new(file), expr)
        }
        [expr] => pcap_filter::cli::dump(expr),
        _ => {
            eprintln!("usage: pcapfilter EXPR | pcapfilter --read FILE EXPR");
            std::process::exit(2);
        }
    };
    match out {
        Ok(s) => print!("{s}"),
        Err(e) => {
            eprintln!("pcapfilter: {e}");
            std::process::exit(1);
        }
    }
}
