-- sql/demo/search.sql - a deterministic demo catalogue for the search
-- service: 361 real cities (with their other names), 5,000 hotels (each
-- with a contact address hotel-ID@hotels.bellhop.test), their room types
-- and about 100,000 rooms.
--
-- Load it as the service role after migrating:
--   psql -X -v ON_ERROR_STOP=1 "$(bh_pg_conninfo DIR bellhop_search)" -f sql/demo/search.sql
-- It replaces the whole catalogue in one transaction, so loading it twice
-- is safe, and setseed() makes every load produce the same rows and ids.
-- It ends with a VACUUM, outside that transaction: do not load it with
-- psql --single-transaction.

\set ON_ERROR_STOP on
BEGIN;

TRUNCATE rooms, room_types, hotels, city_names, cities RESTART IDENTITY CASCADE;

-- Countries: currency, local units per euro, ISO 4217 minor-unit
-- exponent, the step prices are rounded to (local units), a price level
-- (1 = euro-area average) and the language streets are named in.
CREATE TEMP TABLE demo_countries (
	code text PRIMARY KEY, name text, currency text, fx numeric,
	exponent int, step numeric, cost numeric, lang text
) ON COMMIT DROP;
INSERT INTO demo_countries VALUES
	('PT', 'Portugal', 'EUR', 1, 2, 1, 0.85, 'pt'),
	('ES', 'Spain', 'EUR', 1, 2, 1, 0.95, 'es'),
	('FR', 'France', 'EUR', 1, 2, 1, 1.15, 'fr'),
	('DE', 'Germany', 'EUR', 1, 2, 1, 1.05, 'de'),
	('IT', 'Italy', 'EUR', 1, 2, 1, 1.10, 'it'),
	('NL', 'Netherlands', 'EUR', 1, 2, 1, 1.20, 'nl'),
	('BE', 'Belgium', 'EUR', 1, 2, 1, 1.05, 'fr'),
	('LU', 'Luxembourg', 'EUR', 1, 2, 1, 1.20, 'fr'),
	('AT', 'Austria', 'EUR', 1, 2, 1, 1.05, 'de'),
	('CH', 'Switzerland', 'CHF', 0.95, 2, 1, 1.50, 'de'),
	('GB', 'United Kingdom', 'GBP', 0.85, 2, 1, 1.25, 'en'),
	('IE', 'Ireland', 'EUR', 1, 2, 1, 1.20, 'en'),
	('DK', 'Denmark', 'DKK', 7.46, 2, 5, 1.25, 'nordic'),
	('SE', 'Sweden', 'SEK', 11.5, 2, 10, 1.10, 'nordic'),
	('NO', 'Norway', 'NOK', 11.7, 2, 10, 1.30, 'nordic'),
	('FI', 'Finland', 'EUR', 1, 2, 1, 1.10, 'nordic'),
	('IS', 'Iceland', 'ISK', 150, 0, 100, 1.50, 'nordic'),
	('PL', 'Poland', 'PLN', 4.3, 2, 1, 0.70, 'cee'),
	('CZ', 'Czechia', 'CZK', 25, 2, 10, 0.75, 'cee'),
	('HU', 'Hungary', 'HUF', 390, 2, 100, 0.70, 'cee'),
	('RO', 'Romania', 'RON', 5, 2, 1, 0.60, 'cee'),
	('BG', 'Bulgaria', 'BGN', 1.96, 2, 1, 0.55, 'cyr'),
	('GR', 'Greece', 'EUR', 1, 2, 1, 0.95, 'el'),
	('TR', 'Türkiye', 'TRY', 35, 2, 10, 0.60, 'tr'),
	('RU', 'Russia', 'RUB', 100, 2, 100, 0.70, 'cyr'),
	('UA', 'Ukraine', 'UAH', 45, 2, 10, 0.50, 'cyr'),
	('HR', 'Croatia', 'EUR', 1, 2, 1, 0.90, 'cee'),
	('SI', 'Slovenia', 'EUR', 1, 2, 1, 0.85, 'cee'),
	('SK', 'Slovakia', 'EUR', 1, 2, 1, 0.75, 'cee'),
	('RS', 'Serbia', 'RSD', 117, 2, 100, 0.60, 'cee'),
	('EE', 'Estonia', 'EUR', 1, 2, 1, 0.80, 'cee'),
	('LV', 'Latvia', 'EUR', 1, 2, 1, 0.75, 'cee'),
	('LT', 'Lithuania', 'EUR', 1, 2, 1, 0.70, 'cee'),
	('MT', 'Malta', 'EUR', 1, 2, 1, 0.95, 'en'),
	('CY', 'Cyprus', 'EUR', 1, 2, 1, 0.90, 'el'),
	('US', 'United States', 'USD', 1.08, 2, 1, 1.30, 'en'),
	('CA', 'Canada', 'CAD', 1.47, 2, 1, 1.15, 'en'),
	('MX', 'Mexico', 'MXN', 19, 2, 10, 0.70, 'es'),
	('BR', 'Brazil', 'BRL', 5.9, 2, 1, 0.70, 'pt'),
	('AR', 'Argentina', 'ARS', 1000, 2, 1000, 0.60, 'es'),
	('CL', 'Chile', 'CLP', 1000, 0, 1000, 0.70, 'es'),
	('CO', 'Colombia', 'COP', 4500, 2, 1000, 0.55, 'es'),
	('PE', 'Peru', 'PEN', 4, 2, 1, 0.60, 'es'),
	('JP', 'Japan', 'JPY', 160, 0, 100, 1.00, 'ja'),
	('CN', 'China', 'CNY', 7.8, 2, 1, 0.70, 'zh'),
	('HK', 'Hong Kong', 'HKD', 8.4, 2, 10, 1.30, 'en'),
	('TW', 'Taiwan', 'TWD', 35, 2, 10, 0.80, 'zh'),
	('KR', 'South Korea', 'KRW', 1450, 0, 1000, 0.90, 'ko'),
	('IN', 'India', 'INR', 90, 2, 10, 0.45, 'en'),
	('TH', 'Thailand', 'THB', 38, 2, 10, 0.50, 'en'),
	('VN', 'Vietnam', 'VND', 27000, 0, 10000, 0.45, 'vi'),
	('SG', 'Singapore', 'SGD', 1.45, 2, 1, 1.35, 'en'),
	('MY', 'Malaysia', 'MYR', 5, 2, 1, 0.50, 'en'),
	('PH', 'Philippines', 'PHP', 62, 2, 10, 0.50, 'en'),
	('AU', 'Australia', 'AUD', 1.65, 2, 1, 1.15, 'en'),
	('NZ', 'New Zealand', 'NZD', 1.8, 2, 1, 1.10, 'en'),
	('ZA', 'South Africa', 'ZAR', 20, 2, 10, 0.55, 'en'),
	('EG', 'Egypt', 'EGP', 52, 2, 10, 0.40, 'en'),
	('MA', 'Morocco', 'MAD', 10.8, 2, 10, 0.55, 'fr'),
	('KE', 'Kenya', 'KES', 140, 2, 100, 0.60, 'en'),
	('AE', 'United Arab Emirates', 'AED', 4, 2, 1, 1.20, 'en'),
	('IL', 'Israel', 'ILS', 4, 2, 1, 1.20, 'en'),
	('QA', 'Qatar', 'QAR', 3.9, 2, 1, 1.10, 'en');

-- Cities: name as the city calls itself (or as travellers know it), the
-- country, coordinates, a weight (its share of the 5,000 hotels) and the
-- other names it is searched by.
CREATE TEMP TABLE demo_cities (
	ord serial PRIMARY KEY, name text, code text, lat float8, lon float8,
	weight int, alt text[]
) ON COMMIT DROP;
INSERT INTO demo_cities (name, code, lat, lon, weight, alt) VALUES
	('Lisbon', 'PT', 38.7223, -9.1393, 60, '{Lisboa}'),
	('Porto', 'PT', 41.1579, -8.6291, 45, '{Oporto}'),
	('Faro', 'PT', 37.0194, -7.9322, 15, '{}'),
	('Coimbra', 'PT', 40.2033, -8.4103, 12, '{}'),
	('Braga', 'PT', 41.5454, -8.4265, 10, '{}'),
	('Funchal', 'PT', 32.6669, -16.9241, 18, '{Madeira}'),
	('Évora', 'PT', 38.5714, -7.9135, 8, '{}'),
	('Lagos', 'PT', 37.1028, -8.6730, 10, '{}'),
	('Sintra', 'PT', 38.8029, -9.3817, 8, '{}'),
	('Aveiro', 'PT', 40.6405, -8.6538, 8, '{}'),
	('Madrid', 'ES', 40.4168, -3.7038, 60, '{}'),
	('Barcelona', 'ES', 41.3874, 2.1686, 60, '{}'),
	('Sevilla', 'ES', 37.3891, -5.9845, 35, '{Seville}'),
	('Valencia', 'ES', 39.4699, -0.3763, 35, '{València}'),
	('Málaga', 'ES', 36.7213, -4.4214, 30, '{}'),
	('Bilbao', 'ES', 43.2630, -2.9350, 20, '{Bilbo}'),
	('Granada', 'ES', 37.1773, -3.5986, 20, '{}'),
	('Palma', 'ES', 39.5696, 2.6502, 30, '{"Palma de Mallorca",Mallorca}'),
	('San Sebastián', 'ES', 43.3183, -1.9812, 15, '{Donostia}'),
	('Córdoba', 'ES', 37.8882, -4.7794, 12, '{}'),
	('Zaragoza', 'ES', 41.6488, -0.8891, 12, '{}'),
	('Alicante', 'ES', 38.3452, -0.4810, 15, '{Alacant}'),
	('Salamanca', 'ES', 40.9701, -5.6635, 8, '{}'),
	('Santiago de Compostela', 'ES', 42.8782, -8.5448, 8, '{}'),
	('A Coruña', 'ES', 43.3623, -8.4115, 8, '{"La Coruña"}'),
	('Cádiz', 'ES', 36.5271, -6.2886, 8, '{}'),
	('Paris', 'FR', 48.8566, 2.3522, 60, '{}'),
	('Lyon', 'FR', 45.7640, 4.8357, 30, '{Lyons}'),
	('Marseille', 'FR', 43.2965, 5.3698, 30, '{Marseilles}'),
	('Nice', 'FR', 43.7102, 7.2620, 30, '{Nizza}'),
	('Bordeaux', 'FR', 44.8378, -0.5792, 25, '{}'),
	('Toulouse', 'FR', 43.6047, 1.4442, 20, '{}'),
	('Strasbourg', 'FR', 48.5734, 7.7521, 15, '{Straßburg}'),
	('Nantes', 'FR', 47.2184, -1.5536, 15, '{}'),
	('Montpellier', 'FR', 43.6108, 3.8767, 12, '{}'),
	('Lille', 'FR', 50.6292, 3.0573, 12, '{}'),
	('Annecy', 'FR', 45.8992, 6.1294, 8, '{}'),
	('Avignon', 'FR', 43.9493, 4.8055, 8, '{}'),
	('Cannes', 'FR', 43.5528, 7.0174, 15, '{}'),
	('Rennes', 'FR', 48.1173, -1.6778, 8, '{}'),
	('Berlin', 'DE', 52.5200, 13.4050, 60, '{}'),
	('München', 'DE', 48.1351, 11.5820, 45, '{Munich,Muenchen}'),
	('Hamburg', 'DE', 53.5511, 9.9937, 35, '{}'),
	('Köln', 'DE', 50.9375, 6.9603, 30, '{Cologne,Koeln}'),
	('Frankfurt am Main', 'DE', 50.1109, 8.6821, 30, '{Frankfurt}'),
	('Düsseldorf', 'DE', 51.2277, 6.7735, 20, '{Duesseldorf}'),
	('Stuttgart', 'DE', 48.7758, 9.1829, 15, '{}'),
	('Leipzig', 'DE', 51.3397, 12.3731, 12, '{}'),
	('Dresden', 'DE', 51.0504, 13.7373, 15, '{}'),
	('Nürnberg', 'DE', 49.4521, 11.0767, 12, '{Nuremberg}'),
	('Heidelberg', 'DE', 49.3988, 8.6724, 8, '{}'),
	('Bremen', 'DE', 53.0793, 8.8017, 8, '{}'),
	('Hannover', 'DE', 52.3759, 9.7320, 8, '{Hanover}'),
	('Freiburg im Breisgau', 'DE', 47.9990, 7.8421, 6, '{Freiburg}'),
	('Roma', 'IT', 41.9028, 12.4964, 60, '{Rome}'),
	('Milano', 'IT', 45.4642, 9.1900, 45, '{Milan}'),
	('Venezia', 'IT', 45.4408, 12.3155, 35, '{Venice}'),
	('Firenze', 'IT', 43.7696, 11.2558, 35, '{Florence}'),
	('Napoli', 'IT', 40.8518, 14.2681, 25, '{Naples}'),
	('Torino', 'IT', 45.0703, 7.6869, 15, '{Turin}'),
	('Bologna', 'IT', 44.4949, 11.3426, 15, '{}'),
	('Verona', 'IT', 45.4384, 10.9916, 12, '{}'),
	('Palermo', 'IT', 38.1157, 13.3615, 12, '{}'),
	('Genova', 'IT', 44.4056, 8.9463, 10, '{Genoa}'),
	('Pisa', 'IT', 43.7228, 10.4017, 8, '{}'),
	('Siena', 'IT', 43.3188, 11.3308, 8, '{}'),
	('Catania', 'IT', 37.5079, 15.0830, 8, '{}'),
	('Bari', 'IT', 41.1171, 16.8719, 8, '{}'),
	('Como', 'IT', 45.8081, 9.0852, 8, '{}'),
	('Amsterdam', 'NL', 52.3676, 4.9041, 50, '{}'),
	('Rotterdam', 'NL', 51.9244, 4.4777, 20, '{}'),
	('Den Haag', 'NL', 52.0705, 4.3007, 12, '{"The Hague","''s-Gravenhage"}'),
	('Utrecht', 'NL', 52.0907, 5.1214, 10, '{}'),
	('Eindhoven', 'NL', 51.4416, 5.4697, 6, '{}'),
	('Maastricht', 'NL', 50.8514, 5.6910, 6, '{}'),
	('Bruxelles', 'BE', 50.8503, 4.3517, 35, '{Brussels,Brussel}'),
	('Antwerpen', 'BE', 51.2194, 4.4025, 15, '{Antwerp,Anvers}'),
	('Brugge', 'BE', 51.2093, 3.2247, 12, '{Bruges}'),
	('Gent', 'BE', 51.0543, 3.7174, 10, '{Ghent,Gand}'),
	('Liège', 'BE', 50.6326, 5.5797, 6, '{Luik}'),
	('Luxembourg', 'LU', 49.6116, 6.1319, 10, '{Lëtzebuerg,Luxemburg}'),
	('Wien', 'AT', 48.2082, 16.3738, 45, '{Vienna}'),
	('Salzburg', 'AT', 47.8095, 13.0550, 20, '{}'),
	('Innsbruck', 'AT', 47.2692, 11.4041, 12, '{}'),
	('Graz', 'AT', 47.0707, 15.4395, 8, '{}'),
	('Linz', 'AT', 48.3069, 14.2858, 6, '{}'),
	('Zürich', 'CH', 47.3769, 8.5417, 35, '{Zurich,Zuerich}'),
	('Genève', 'CH', 46.2044, 6.1432, 25, '{Geneva,Genf}'),
	('Basel', 'CH', 47.5596, 7.5886, 12, '{Bâle}'),
	('Bern', 'CH', 46.9480, 7.4474, 10, '{Berne}'),
	('Luzern', 'CH', 47.0502, 8.3093, 12, '{Lucerne}'),
	('Lausanne', 'CH', 46.5197, 6.6323, 10, '{}'),
	('Interlaken', 'CH', 46.6863, 7.8632, 8, '{}'),
	('Zermatt', 'CH', 46.0207, 7.7491, 8, '{}'),
	('Lugano', 'CH', 46.0037, 8.9511, 8, '{}'),
	('London', 'GB', 51.5072, -0.1276, 60, '{}'),
	('Edinburgh', 'GB', 55.9533, -3.1883, 35, '{}'),
	('Manchester', 'GB', 53.4808, -2.2426, 25, '{}'),
	('Liverpool', 'GB', 53.4084, -2.9916, 20, '{}'),
	('Glasgow', 'GB', 55.8642, -4.2518, 20, '{}'),
	('Birmingham', 'GB', 52.4862, -1.8904, 15, '{}'),
	('Bristol', 'GB', 51.4545, -2.5879, 12, '{}'),
	('Oxford', 'GB', 51.7520, -1.2577, 10, '{}'),
	('Cambridge', 'GB', 52.2053, 0.1218, 10, '{}'),
	('Bath', 'GB', 51.3811, -2.3590, 8, '{}'),
	('York', 'GB', 53.9600, -1.0873, 10, '{}'),
	('Brighton', 'GB', 50.8225, -0.1372, 10, '{}'),
	('Belfast', 'GB', 54.5973, -5.9301, 10, '{}'),
	('Cardiff', 'GB', 51.4816, -3.1791, 8, '{Caerdydd}'),
	('Dublin', 'IE', 53.3498, -6.2603, 35, '{"Baile Átha Cliath"}'),
	('Cork', 'IE', 51.8985, -8.4756, 10, '{}'),
	('Galway', 'IE', 53.2707, -9.0568, 8, '{}'),
	('København', 'DK', 55.6761, 12.5683, 35, '{Copenhagen,Kopenhagen}'),
	('Aarhus', 'DK', 56.1629, 10.2039, 10, '{Århus}'),
	('Odense', 'DK', 55.4038, 10.4024, 6, '{}'),
	('Stockholm', 'SE', 59.3293, 18.0686, 35, '{}'),
	('Göteborg', 'SE', 57.7089, 11.9746, 20, '{Gothenburg}'),
	('Malmö', 'SE', 55.6050, 13.0038, 15, '{}'),
	('Uppsala', 'SE', 59.8586, 17.6389, 6, '{}'),
	('Kiruna', 'SE', 67.8558, 20.2253, 4, '{}'),
	('Oslo', 'NO', 59.9139, 10.7522, 30, '{}'),
	('Bergen', 'NO', 60.3913, 5.3221, 15, '{}'),
	('Tromsø', 'NO', 69.6492, 18.9553, 10, '{}'),
	('Trondheim', 'NO', 63.4305, 10.3951, 8, '{}'),
	('Stavanger', 'NO', 58.9700, 5.7331, 6, '{}'),
	('Helsinki', 'FI', 60.1699, 24.9384, 25, '{Helsingfors}'),
	('Turku', 'FI', 60.4518, 22.2666, 6, '{Åbo}'),
	('Tampere', 'FI', 61.4978, 23.7610, 6, '{Tammerfors}'),
	('Rovaniemi', 'FI', 66.5039, 25.7294, 8, '{}'),
	('Reykjavík', 'IS', 64.1466, -21.9426, 20, '{}'),
	('Akureyri', 'IS', 65.6885, -18.1262, 5, '{}'),
	('Warszawa', 'PL', 52.2297, 21.0122, 35, '{Warsaw,Warschau}'),
	('Kraków', 'PL', 50.0647, 19.9450, 35, '{Cracow,Krakau}'),
	('Gdańsk', 'PL', 54.3520, 18.6466, 20, '{Danzig}'),
	('Wrocław', 'PL', 51.1079, 17.0385, 15, '{Breslau}'),
	('Poznań', 'PL', 52.4064, 16.9252, 12, '{Posen}'),
	('Łódź', 'PL', 51.7592, 19.4560, 10, '{}'),
	('Zakopane', 'PL', 49.2992, 19.9496, 8, '{}'),
	('Katowice', 'PL', 50.2649, 19.0238, 6, '{}'),
	('Praha', 'CZ', 50.0755, 14.4378, 45, '{Prague,Prag}'),
	('Brno', 'CZ', 49.1951, 16.6068, 12, '{Brünn}'),
	('Český Krumlov', 'CZ', 48.8127, 14.3175, 8, '{}'),
	('Karlovy Vary', 'CZ', 50.2310, 12.8710, 8, '{Karlsbad}'),
	('Budapest', 'HU', 47.4979, 19.0402, 40, '{}'),
	('Debrecen', 'HU', 47.5316, 21.6273, 5, '{}'),
	('Pécs', 'HU', 46.0727, 18.2323, 5, '{}'),
	('București', 'RO', 44.4268, 26.1025, 25, '{Bucharest,Bukarest}'),
	('Brașov', 'RO', 45.6579, 25.6012, 12, '{Kronstadt}'),
	('Cluj-Napoca', 'RO', 46.7712, 23.6236, 10, '{Cluj}'),
	('Sibiu', 'RO', 45.7983, 24.1256, 8, '{Hermannstadt}'),
	('Timișoara', 'RO', 45.7489, 21.2087, 8, '{}'),
	('Constanța', 'RO', 44.1598, 28.6348, 6, '{}'),
	('Sofia', 'BG', 42.6977, 23.3219, 15, '{София}'),
	('Plovdiv', 'BG', 42.1354, 24.7453, 8, '{Пловдив}'),
	('Varna', 'BG', 43.2141, 27.9147, 8, '{Варна}'),
	('Αθήνα', 'GR', 37.9838, 23.7275, 40, '{Athens,Athina}'),
	('Θεσσαλονίκη', 'GR', 40.6401, 22.9444, 20, '{Thessaloniki,Salonica}'),
	('Ηράκλειο', 'GR', 35.3387, 25.1442, 12, '{Heraklion,Iraklio}'),
	('Ρόδος', 'GR', 36.4341, 28.2176, 12, '{Rhodes,Rodos}'),
	('Φηρά', 'GR', 36.4167, 25.4317, 12, '{Fira,Santorini}'),
	('Κέρκυρα', 'GR', 39.6243, 19.9217, 10, '{Corfu,Kerkyra}'),
	('Ελληνικό', 'GR', 37.8833, 23.7333, 3, '{Elliniko,Hellinikon}'),
	('İstanbul', 'TR', 41.0082, 28.9784, 50, '{Istanbul,Constantinople}'),
	('Ankara', 'TR', 39.9334, 32.8597, 15, '{}'),
	('İzmir', 'TR', 38.4237, 27.1428, 15, '{Izmir,Smyrna}'),
	('Antalya', 'TR', 36.8969, 30.7133, 25, '{}'),
	('Bodrum', 'TR', 37.0344, 27.4305, 10, '{}'),
	('Göreme', 'TR', 38.6431, 34.8289, 6, '{Cappadocia}'),
	('Москва', 'RU', 55.7558, 37.6173, 40, '{Moscow,Moskva}'),
	('Санкт-Петербург', 'RU', 59.9343, 30.3351, 30, '{"Saint Petersburg","St Petersburg","Sankt-Peterburg"}'),
	('Казань', 'RU', 55.7887, 49.1221, 10, '{Kazan}'),
	('Сочи', 'RU', 43.6028, 39.7342, 8, '{Sochi}'),
	('Київ', 'UA', 50.4501, 30.5234, 15, '{Kyiv,Kiev}'),
	('Львів', 'UA', 49.8397, 24.0297, 10, '{Lviv,Lwów,Lemberg}'),
	('Одеса', 'UA', 46.4825, 30.7233, 8, '{Odesa,Odessa}'),
	('Zagreb', 'HR', 45.8150, 15.9819, 12, '{}'),
	('Split', 'HR', 43.5081, 16.4402, 15, '{}'),
	('Dubrovnik', 'HR', 42.6507, 18.0944, 15, '{Ragusa}'),
	('Zadar', 'HR', 44.1194, 15.2314, 6, '{}'),
	('Rovinj', 'HR', 45.0812, 13.6387, 6, '{Rovigno}'),
	('Ljubljana', 'SI', 46.0569, 14.5058, 12, '{Laibach}'),
	('Bled', 'SI', 46.3683, 14.1146, 6, '{}'),
	('Piran', 'SI', 45.5285, 13.5683, 4, '{Pirano}'),
	('Bratislava', 'SK', 48.1486, 17.1077, 10, '{Pressburg}'),
	('Košice', 'SK', 48.7164, 21.2611, 5, '{Kaschau}'),
	('Beograd', 'RS', 44.7866, 20.4489, 12, '{Belgrade,Београд}'),
	('Novi Sad', 'RS', 45.2671, 19.8335, 5, '{Нови Сад}'),
	('Tallinn', 'EE', 59.4370, 24.7536, 15, '{Reval}'),
	('Tartu', 'EE', 58.3780, 26.7290, 5, '{}'),
	('Rīga', 'LV', 56.9496, 24.1052, 15, '{}'),
	('Jūrmala', 'LV', 56.9680, 23.7704, 5, '{}'),
	('Vilnius', 'LT', 54.6872, 25.2797, 12, '{Wilno}'),
	('Kaunas', 'LT', 54.8985, 23.9036, 5, '{}'),
	('Valletta', 'MT', 35.8989, 14.5146, 10, '{Valetta}'),
	('Sliema', 'MT', 35.9122, 14.5042, 6, '{}'),
	('Limassol', 'CY', 34.7071, 33.0226, 8, '{Λεμεσός,Lemesos}'),
	('Paphos', 'CY', 34.7720, 32.4297, 6, '{Πάφος,Pafos}'),
	('New York', 'US', 40.7128, -74.0060, 60, '{"New York City",NYC}'),
	('Los Angeles', 'US', 34.0522, -118.2437, 45, '{LA}'),
	('San Francisco', 'US', 37.7749, -122.4194, 40, '{}'),
	('Chicago', 'US', 41.8781, -87.6298, 35, '{}'),
	('Miami', 'US', 25.7617, -80.1918, 35, '{}'),
	('Las Vegas', 'US', 36.1699, -115.1398, 40, '{}'),
	('Washington', 'US', 38.9072, -77.0369, 30, '{"Washington DC","Washington, D.C."}'),
	('Boston', 'US', 42.3601, -71.0589, 25, '{}'),
	('Seattle', 'US', 47.6062, -122.3321, 20, '{}'),
	('New Orleans', 'US', 29.9511, -90.0715, 20, '{}'),
	('Orlando', 'US', 28.5384, -81.3789, 25, '{}'),
	('San Diego', 'US', 32.7157, -117.1611, 20, '{}'),
	('Austin', 'US', 30.2672, -97.7431, 15, '{}'),
	('Denver', 'US', 39.7392, -104.9903, 12, '{}'),
	('Nashville', 'US', 36.1627, -86.7816, 12, '{}'),
	('Honolulu', 'US', 21.3069, -157.8583, 20, '{}'),
	('Philadelphia', 'US', 39.9526, -75.1652, 15, '{}'),
	('Portland', 'US', 45.5152, -122.6784, 10, '{}'),
	('Savannah', 'US', 32.0809, -81.0912, 6, '{}'),
	('Santa Fe', 'US', 35.6870, -105.9378, 6, '{}'),
	('Anchorage', 'US', 61.2181, -149.9003, 5, '{}'),
	('Houston', 'US', 29.7604, -95.3698, 15, '{}'),
	('Atlanta', 'US', 33.7490, -84.3880, 15, '{}'),
	('Dallas', 'US', 32.7767, -96.7970, 12, '{}'),
	('Phoenix', 'US', 33.4484, -112.0740, 10, '{}'),
	('Salt Lake City', 'US', 40.7608, -111.8910, 6, '{}'),
	('Charleston', 'US', 32.7765, -79.9311, 6, '{}'),
	('San Antonio', 'US', 29.4241, -98.4936, 8, '{}'),
	('Toronto', 'CA', 43.6532, -79.3832, 35, '{}'),
	('Montréal', 'CA', 45.5019, -73.5674, 30, '{Montreal}'),
	('Vancouver', 'CA', 49.2827, -123.1207, 30, '{}'),
	('Québec', 'CA', 46.8139, -71.2080, 15, '{"Quebec City","Ville de Québec"}'),
	('Calgary', 'CA', 51.0447, -114.0719, 10, '{}'),
	('Ottawa', 'CA', 45.4215, -75.6972, 12, '{}'),
	('Banff', 'CA', 51.1784, -115.5708, 8, '{}'),
	('Halifax', 'CA', 44.6488, -63.5752, 6, '{}'),
	('Victoria', 'CA', 48.4284, -123.3656, 6, '{}'),
	('Whistler', 'CA', 50.1163, -122.9574, 6, '{}'),
	('Ciudad de México', 'MX', 19.4326, -99.1332, 40, '{"Mexico City",CDMX}'),
	('Cancún', 'MX', 21.1619, -86.8515, 35, '{}'),
	('Guadalajara', 'MX', 20.6597, -103.3496, 12, '{}'),
	('Oaxaca de Juárez', 'MX', 17.0732, -96.7266, 8, '{Oaxaca}'),
	('Playa del Carmen', 'MX', 20.6296, -87.0739, 15, '{}'),
	('Puerto Vallarta', 'MX', 20.6534, -105.2253, 12, '{}'),
	('Mérida', 'MX', 20.9674, -89.5926, 8, '{}'),
	('Tulum', 'MX', 20.2114, -87.4654, 10, '{}'),
	('Monterrey', 'MX', 25.6866, -100.3161, 8, '{}'),
	('São Paulo', 'BR', -23.5505, -46.6333, 40, '{}'),
	('Rio de Janeiro', 'BR', -22.9068, -43.1729, 45, '{Rio}'),
	('Salvador', 'BR', -12.9777, -38.5016, 20, '{}'),
	('Brasília', 'BR', -15.7975, -47.8919, 12, '{}'),
	('Florianópolis', 'BR', -27.5954, -48.5480, 12, '{}'),
	('Belo Horizonte', 'BR', -19.9167, -43.9345, 10, '{}'),
	('Recife', 'BR', -8.0476, -34.8770, 10, '{}'),
	('Fortaleza', 'BR', -3.7319, -38.5267, 10, '{}'),
	('Manaus', 'BR', -3.1190, -60.0217, 8, '{}'),
	('Foz do Iguaçu', 'BR', -25.5469, -54.5882, 8, '{}'),
	('Curitiba', 'BR', -25.4284, -49.2733, 8, '{}'),
	('Porto Alegre', 'BR', -30.0346, -51.2177, 8, '{}'),
	('Buenos Aires', 'AR', -34.6037, -58.3816, 35, '{}'),
	('Mendoza', 'AR', -32.8895, -68.8458, 10, '{}'),
	('Córdoba', 'AR', -31.4201, -64.1888, 10, '{}'),
	('San Carlos de Bariloche', 'AR', -41.1335, -71.3103, 8, '{Bariloche}'),
	('Ushuaia', 'AR', -54.8019, -68.3030, 6, '{}'),
	('Salta', 'AR', -24.7821, -65.4232, 6, '{}'),
	('Santiago', 'CL', -33.4489, -70.6693, 25, '{"Santiago de Chile"}'),
	('Valparaíso', 'CL', -33.0472, -71.6127, 8, '{}'),
	('Punta Arenas', 'CL', -53.1638, -70.9171, 5, '{}'),
	('San Pedro de Atacama', 'CL', -22.9087, -68.1997, 5, '{}'),
	('Bogotá', 'CO', 4.7110, -74.0721, 20, '{}'),
	('Medellín', 'CO', 6.2442, -75.5812, 15, '{}'),
	('Cartagena', 'CO', 10.3910, -75.4794, 15, '{"Cartagena de Indias"}'),
	('Cali', 'CO', 3.4516, -76.5320, 6, '{}'),
	('Lima', 'PE', -12.0464, -77.0428, 25, '{}'),
	('Cusco', 'PE', -13.5319, -71.9675, 15, '{Cuzco,Qosqo}'),
	('Arequipa', 'PE', -16.4090, -71.5375, 8, '{}'),
	('東京', 'JP', 35.6762, 139.6503, 60, '{Tokyo,Tōkyō}'),
	('大阪', 'JP', 34.6937, 135.5023, 35, '{Osaka,Ōsaka}'),
	('京都', 'JP', 35.0116, 135.7681, 35, '{Kyoto,Kyōto}'),
	('札幌', 'JP', 43.0618, 141.3545, 15, '{Sapporo}'),
	('福岡', 'JP', 33.5904, 130.4017, 12, '{Fukuoka}'),
	('広島', 'JP', 34.3853, 132.4553, 10, '{Hiroshima}'),
	('奈良', 'JP', 34.6851, 135.8048, 8, '{Nara}'),
	('那覇', 'JP', 26.2124, 127.6809, 8, '{Naha,Okinawa}'),
	('名古屋', 'JP', 35.1815, 136.9066, 12, '{Nagoya}'),
	('横浜', 'JP', 35.4437, 139.6380, 12, '{Yokohama}'),
	('北京', 'CN', 39.9042, 116.4074, 40, '{Beijing,Peking}'),
	('上海', 'CN', 31.2304, 121.4737, 45, '{Shanghai}'),
	('广州', 'CN', 23.1291, 113.2644, 15, '{Guangzhou,Canton}'),
	('深圳', 'CN', 22.5431, 114.0579, 15, '{Shenzhen}'),
	('成都', 'CN', 30.5728, 104.0668, 12, '{Chengdu}'),
	('西安', 'CN', 34.3416, 108.9398, 12, '{Xi''an,Xian}'),
	('杭州', 'CN', 30.2741, 120.1551, 12, '{Hangzhou}'),
	('桂林', 'CN', 25.2736, 110.2900, 8, '{Guilin}'),
	('Hong Kong', 'HK', 22.3193, 114.1694, 40, '{香港}'),
	('台北', 'TW', 25.0330, 121.5654, 25, '{Taipei}'),
	('서울', 'KR', 37.5665, 126.9780, 40, '{Seoul}'),
	('부산', 'KR', 35.1796, 129.0756, 20, '{Busan,Pusan}'),
	('제주', 'KR', 33.4996, 126.5312, 12, '{Jeju}'),
	('Mumbai', 'IN', 19.0760, 72.8777, 30, '{Bombay}'),
	('New Delhi', 'IN', 28.6139, 77.2090, 30, '{Delhi}'),
	('Bengaluru', 'IN', 12.9716, 77.5946, 15, '{Bangalore}'),
	('Jaipur', 'IN', 26.9124, 75.7873, 15, '{}'),
	('Panaji', 'IN', 15.4909, 73.8278, 12, '{Goa,Panjim}'),
	('Agra', 'IN', 27.1767, 78.0081, 10, '{}'),
	('Chennai', 'IN', 13.0827, 80.2707, 10, '{Madras}'),
	('Kolkata', 'IN', 22.5726, 88.3639, 10, '{Calcutta}'),
	('Udaipur', 'IN', 24.5854, 73.7125, 8, '{}'),
	('Varanasi', 'IN', 25.3176, 82.9739, 6, '{Benares}'),
	('Kochi', 'IN', 9.9312, 76.2673, 8, '{Cochin}'),
	('Bangkok', 'TH', 13.7563, 100.5018, 50, '{กรุงเทพมหานคร,"Krung Thep"}'),
	('Phuket', 'TH', 7.8804, 98.3923, 30, '{}'),
	('Chiang Mai', 'TH', 18.7883, 98.9853, 20, '{}'),
	('Pattaya', 'TH', 12.9236, 100.8825, 15, '{}'),
	('Krabi', 'TH', 8.0863, 98.9063, 12, '{}'),
	('Ko Samui', 'TH', 9.5120, 100.0136, 12, '{"Koh Samui"}'),
	('Hà Nội', 'VN', 21.0278, 105.8342, 25, '{Hanoi}'),
	('Thành phố Hồ Chí Minh', 'VN', 10.8231, 106.6297, 25, '{"Ho Chi Minh City",Saigon}'),
	('Đà Nẵng', 'VN', 16.0544, 108.2022, 15, '{"Da Nang"}'),
	('Hội An', 'VN', 15.8801, 108.3380, 12, '{"Hoi An"}'),
	('Nha Trang', 'VN', 12.2388, 109.1967, 10, '{}'),
	('Singapore', 'SG', 1.3521, 103.8198, 40, '{新加坡,Singapura}'),
	('Kuala Lumpur', 'MY', 3.1390, 101.6869, 25, '{KL}'),
	('George Town', 'MY', 5.4141, 100.3288, 10, '{Penang}'),
	('Langkawi', 'MY', 6.3500, 99.8000, 8, '{}'),
	('Manila', 'PH', 14.5995, 120.9842, 15, '{Maynila}'),
	('Cebu City', 'PH', 10.3157, 123.8854, 10, '{Cebu}'),
	('Sydney', 'AU', -33.8688, 151.2093, 45, '{}'),
	('Melbourne', 'AU', -37.8136, 144.9631, 40, '{}'),
	('Brisbane', 'AU', -27.4698, 153.0251, 20, '{}'),
	('Perth', 'AU', -31.9505, 115.8605, 15, '{}'),
	('Adelaide', 'AU', -34.9285, 138.6007, 12, '{}'),
	('Cairns', 'AU', -16.9186, 145.7781, 12, '{}'),
	('Gold Coast', 'AU', -28.0167, 153.4000, 15, '{}'),
	('Hobart', 'AU', -42.8821, 147.3272, 8, '{}'),
	('Darwin', 'AU', -12.4634, 130.8456, 6, '{}'),
	('Auckland', 'NZ', -36.8485, 174.7633, 20, '{"Tāmaki Makaurau"}'),
	('Queenstown', 'NZ', -45.0312, 168.6626, 15, '{}'),
	('Wellington', 'NZ', -41.2865, 174.7762, 12, '{}'),
	('Christchurch', 'NZ', -43.5321, 172.6362, 10, '{}'),
	('Rotorua', 'NZ', -38.1368, 176.2497, 6, '{}'),
	('Cape Town', 'ZA', -33.9249, 18.4241, 30, '{Kaapstad}'),
	('Johannesburg', 'ZA', -26.2041, 28.0473, 20, '{Joburg}'),
	('Durban', 'ZA', -29.8587, 31.0218, 12, '{eThekwini}'),
	('Stellenbosch', 'ZA', -33.9321, 18.8602, 6, '{}'),
	('Cairo', 'EG', 30.0444, 31.2357, 25, '{القاهرة}'),
	('Luxor', 'EG', 25.6872, 32.6396, 10, '{الأقصر}'),
	('Sharm el-Sheikh', 'EG', 27.9158, 34.3300, 12, '{}'),
	('Alexandria', 'EG', 31.2001, 29.9187, 10, '{الإسكندرية}'),
	('Hurghada', 'EG', 27.2579, 33.8116, 10, '{}'),
	('Marrakech', 'MA', 31.6295, -7.9811, 30, '{Marrakesh,مراكش}'),
	('Fès', 'MA', 34.0331, -5.0003, 12, '{Fez}'),
	('Casablanca', 'MA', 33.5731, -7.5898, 12, '{الدار البيضاء}'),
	('Essaouira', 'MA', 31.5085, -9.7595, 6, '{}'),
	('Chefchaouen', 'MA', 35.1688, -5.2636, 4, '{}'),
	('Tanger', 'MA', 35.7595, -5.8340, 8, '{Tangier}'),
	('Nairobi', 'KE', -1.2921, 36.8219, 15, '{}'),
	('Mombasa', 'KE', -4.0435, 39.6682, 10, '{}'),
	('Dubai', 'AE', 25.2048, 55.2708, 50, '{دبي}'),
	('Abu Dhabi', 'AE', 24.4539, 54.3773, 20, '{أبو ظبي}'),
	('Tel Aviv-Yafo', 'IL', 32.0853, 34.7818, 20, '{"Tel Aviv",תל אביב}'),
	('Jerusalem', 'IL', 31.7683, 35.2137, 20, '{ירושלים}'),
	('Eilat', 'IL', 29.5577, 34.9519, 6, '{}'),
	('Doha', 'QA', 25.2854, 51.5310, 15, '{الدوحة}');

INSERT INTO cities (name, country, country_code, lat, lon)
SELECT c.name, k.name, c.code, c.lat, c.lon
FROM demo_cities c JOIN demo_countries k ON k.code = c.code
ORDER BY c.ord;

-- the trigger on cities already added each city's own name
INSERT INTO city_names (city_id, name)
SELECT ct.id, a.alt
FROM demo_cities c
JOIN cities ct ON ct.name = c.name AND ct.country_code = c.code
CROSS JOIN LATERAL unnest(c.alt) AS a(alt)
ORDER BY c.ord
ON CONFLICT DO NOTHING;

-- Street names by language; addresses are "street number", or "number
-- street" in English.
CREATE TEMP TABLE demo_streets (lang text PRIMARY KEY, streets text[])
	ON COMMIT DROP;
INSERT INTO demo_streets VALUES
	('pt', '{"Rua Augusta","Avenida da Liberdade","Rua do Carmo","Praça do Comércio","Rua das Flores","Avenida Almirante Reis","Rua de São Bento","Largo do Chiado"}'),
	('es', '{"Calle Mayor","Gran Vía","Paseo de la Castellana","Calle de Alcalá","Avenida de la Constitución","Calle Larios","Plaza de España","Calle del Príncipe"}'),
	('fr', '{"Rue de Rivoli","Boulevard Saint-Germain","Avenue des Champs-Élysées","Rue de la République","Quai des Célestins","Place Bellecour","Rue Sainte-Catherine","Rue du Faubourg"}'),
	('de', '{"Bahnhofstraße","Hauptstraße","Königsallee","Marienplatz","Friedrichstraße","Schillerstraße","Goethestraße","Am Markt"}'),
	('it', '{"Via Roma","Via del Corso","Corso Vittorio Emanuele II","Via Garibaldi","Piazza della Repubblica","Via Nazionale","Via dei Mille","Lungarno Corsini"}'),
	('nl', '{"Damrak","Kalverstraat","Prinsengracht","Herengracht","Stationsplein","Grote Markt","Oudegracht","Coolsingel"}'),
	('nordic', '{"Kungsgatan","Drottninggatan","Storgatan","Strøget","Karl Johans gate","Nyhavn","Aleksanterinkatu","Laugavegur"}'),
	('cee', '{"ulica Długa","ulica Floriańska","Nowy Świat","Václavské náměstí","Karlova","Ilica","Váci utca","Strada Lipscani"}'),
	('el', '{"Οδός Ερμού","Λεωφόρος Συγγρού","Οδός Αθηνάς","Οδός Τσιμισκή","Λεωφόρος Βασιλίσσης Σοφίας","Οδός Αιόλου"}'),
	('cyr', '{"улица Тверская","Невский проспект","улица Арбат","Хрещатик","бульвар Витоша","улица Баумана"}'),
	('tr', '{"İstiklal Caddesi","Bağdat Caddesi","Cumhuriyet Caddesi","Atatürk Bulvarı","Kıbrıs Şehitleri Caddesi","Divanyolu Caddesi"}'),
	('ja', '{"銀座","新宿","梅田","祇園","中洲","大通西","栄","元町"}'),
	('zh', '{"南京路","王府井大街","淮海中路","中山路","解放路","长安街"}'),
	('ko', '{"세종대로","강남대로","해운대로","명동길","테헤란로","연북로"}'),
	('vi', '{"Đường Lê Lợi","Phố Hàng Bạc","Đường Đồng Khởi","Phố Tràng Tiền","Đường Bạch Đằng","Đường Trần Phú"}'),
	('en', '{"Main Street","Market Street","High Street","Park Avenue","Ocean Drive","King Street","Queen Street","Harbour Road","Station Road","Church Street","Broadway","Beach Road"}');

-- From here on random() is seeded: every load draws the same numbers, in
-- the same order, so ids and rows are the same each time.
DO $$ BEGIN PERFORM setseed(0.20240917); END $$;

-- Each city gets its weight's share of the 5,000 hotels (cumulative
-- rounding, so the shares add up to exactly 5,000).
CREATE TEMP TABLE demo_hotels ON COMMIT DROP AS
WITH shares AS (
	SELECT c.*, ct.id AS city_id,
		floor(5000.0 * sum(c.weight) OVER (ORDER BY c.ord) / sum(c.weight) OVER ())
		- floor(5000.0 * (sum(c.weight) OVER (ORDER BY c.ord) - c.weight) / sum(c.weight) OVER ())
			AS hotels
	FROM demo_cities c
	JOIN cities ct ON ct.name = c.name AND ct.country_code = c.code
), slots AS (
	SELECT s.ord, s.city_id, s.name AS city_name, s.lat, s.lon, s.alt, s.code,
		n AS seq
	FROM shares s CROSS JOIN LATERAL generate_series(1, s.hotels::int) AS n
	ORDER BY s.ord, n
)
SELECT row_number() OVER (ORDER BY ord, seq) AS id, city_id, city_name,
	lat, lon, code,
	-- hotel names use the city's Latin-script name when it has one
	CASE WHEN city_name ~ '[A-Za-z]' THEN city_name
		ELSE coalesce(alt[1], city_name) END AS city_label,
	random() AS r_stars, random() AS r_pattern, random() AS r_word,
	random() AS r_type, random() AS r_street, random() AS r_number,
	random() AS r_rating, random() AS r_desc1, random() AS r_desc2,
	random() AS r_lat, random() AS r_lon, random() AS r_price,
	random() AS r_types
FROM slots
ORDER BY ord, seq;

INSERT INTO hotels (id, city_id, name, address, stars, rating, description,
	currency, lat, lon, email)
SELECT d.id, d.city_id, n.name, a.address, s.stars,
	-- about one hotel in 50 has no reviews yet
	CASE WHEN d.r_rating < 0.02 THEN NULL
		ELSE round(least(9.9, 5.0 + s.stars * 0.55 + d.r_rating * 2.6)::numeric, 1)
	END,
	format('A %s-star %s in %s, %s. %s', s.stars,
		CASE t.kind WHEN 'Suites' THEN 'suite hotel'
			WHEN 'Palace' THEN 'palace hotel' ELSE lower(t.kind) END,
		d.city_label,
		(ARRAY['a short walk from the old town', 'close to the main station',
			'with views over the water', 'near the beach and the promenade',
			'in a quiet residential street', 'next to the business district',
			'steps from the best restaurants', 'surrounded by gardens'])
			[1 + floor(d.r_desc1 * 8)::int],
		(ARRAY['Free Wi-Fi, breakfast served daily and a 24-hour front desk.',
			'Rooftop bar, fitness room and bicycle rental.',
			'Family rooms, a garden terrace and an airport shuttle.',
			'Spa, indoor pool and an award-winning restaurant.',
			'Pet-friendly, with a café and self check-in.',
			'Soundproofed rooms, a library lounge and late checkout on request.'])
			[1 + floor(d.r_desc2 * 6)::int]),
	k.currency,
	round((d.lat + (d.r_lat - 0.5) * 0.06)::numeric, 5)::float8,
	round((d.lon + (d.r_lon - 0.5) * 0.06)::numeric, 5)::float8,
	-- reservation notices go here: a reserved domain (RFC 2606), so no
	-- demo mail can reach anyone
	format('hotel-%s@hotels.bellhop.test', d.id)
FROM demo_hotels d
JOIN demo_countries k ON k.code = d.code
JOIN demo_streets st ON st.lang = k.lang
CROSS JOIN LATERAL (SELECT CASE
	WHEN d.r_stars < 0.08 THEN 1 WHEN d.r_stars < 0.25 THEN 2
	WHEN d.r_stars < 0.60 THEN 3 WHEN d.r_stars < 0.88 THEN 4 ELSE 5 END AS stars) s
CROSS JOIN LATERAL (SELECT (CASE s.stars
	WHEN 1 THEN ARRAY['Hostel', 'Guesthouse', 'Inn', 'Hotel']
	WHEN 2 THEN ARRAY['Hotel', 'Inn', 'Guesthouse', 'Aparthotel']
	WHEN 3 THEN ARRAY['Hotel', 'Hotel', 'Suites', 'Residence', 'Aparthotel']
	WHEN 4 THEN ARRAY['Hotel', 'Hotel', 'Boutique Hotel', 'Suites', 'Lodge']
	ELSE ARRAY['Hotel', 'Palace', 'Resort', 'Grand Hotel'] END)
	[1 + floor(d.r_type * (CASE WHEN s.stars IN (3, 4) THEN 5 ELSE 4 END))::int] AS kind) t
CROSS JOIN LATERAL (SELECT (ARRAY['Bellevue', 'Belle Époque', 'Continental',
	'Majestic', 'Imperial', 'Riverside', 'Harbour', 'Garden', 'Old Town',
	'Panorama', 'Sunset', 'Meridian', 'Crown', 'Ambassador', 'Astoria',
	'Savoy', 'Excelsior', 'Victoria', 'Regent', 'Boulevard', 'Lighthouse',
	'Olive Tree', 'Azulejo', 'Señorial', 'Château Blanc', 'Königshof',
	'Fjordgården', 'Sakura', 'Lotus', 'Jade', 'Ørestad', 'Złota Kamienica',
	'Casa Bonita', 'Villa Serena', 'Maison Rose', 'Alpenrose', 'Édelweiss',
	'Mirador', 'Belvedere', 'Cosmopolitan', 'Atlântico', 'Plaza', 'Central',
	'Park', 'Royal', 'Metropole', 'Zenit', 'Aurora', 'Nordlys', 'Sirocco'])
	[1 + floor(d.r_word * 50)::int] AS word) w
CROSS JOIN LATERAL (SELECT CASE floor(d.r_pattern * 4)::int
	WHEN 0 THEN t.kind || ' ' || w.word
	WHEN 1 THEN w.word || ' ' || t.kind
	WHEN 2 THEN w.word || ' ' || t.kind || ' ' || d.city_label
	ELSE 'The ' || w.word || ' ' || t.kind END AS name) n
CROSS JOIN LATERAL (SELECT CASE WHEN k.lang = 'en'
	THEN (1 + floor(d.r_number * 250)::int) || ' '
		|| st.streets[1 + floor(d.r_street * array_length(st.streets, 1))::int]
	ELSE st.streets[1 + floor(d.r_street * array_length(st.streets, 1))::int]
		|| ' ' || (1 + floor(d.r_number * 250)::int) END AS address) a
ORDER BY d.id;
-- ids were given explicitly: move the identity past them
DO $$ BEGIN
	PERFORM setval(pg_get_serial_sequence('hotels', 'id'), max(id)) FROM hotels;
END $$;

-- 2 to 5 room types per hotel: every hotel has doubles and twins, then
-- singles, suites and family rooms.  Rates follow stars, the country's
-- price level and a per-hotel factor, rounded to the local step.
CREATE TEMP TABLE demo_types (ord int, name text, capacity int, factor numeric)
	ON COMMIT DROP;
INSERT INTO demo_types VALUES
	(1, 'Double', 2, 1.0), (2, 'Twin', 2, 1.0), (3, 'Single', 1, 0.8),
	(4, 'Suite', 3, 2.2), (5, 'Family', 4, 1.6);

INSERT INTO room_types (hotel_id, name, capacity, nightly_rate)
SELECT h.id, t.name,
	-- some family rooms sleep five or six
	CASE WHEN t.ord = 5 THEN 4 + (h.id % 3) ELSE t.capacity END,
	(greatest(k.step, round((ARRAY[45, 65, 95, 145, 260])[h.stars] * k.cost
		* (0.8 + d.r_price * 0.5) * t.factor * k.fx / k.step) * k.step)
		* 10 ^ k.exponent)::int
FROM hotels h
JOIN demo_hotels d ON d.id = h.id
JOIN demo_countries k ON k.code = d.code
JOIN demo_types t ON t.ord <= 2 + floor(d.r_types * 4)::int
ORDER BY h.id, t.ord;

-- 2 to 10 rooms per room type, numbered by floor (101..120, 201..) within
-- the hotel.
INSERT INTO rooms (hotel_id, room_type_id, number)
SELECT hotel_id, room_type_id,
	((n - 1) / 20 + 1) * 100 + (n - 1) % 20 + 1
FROM (
	SELECT rt.hotel_id, rt.id AS room_type_id,
		row_number() OVER (PARTITION BY rt.hotel_id ORDER BY rt.id, g) AS n
	FROM (SELECT rt.*, 2 + floor(random() * 9)::int AS rooms
		FROM room_types rt ORDER BY rt.id) rt
	CROSS JOIN LATERAL generate_series(1, rt.rooms) AS g
) x
ORDER BY hotel_id, n;

COMMIT;

-- Fresh statistics and visibility maps, so the first queries already get
-- index(-only) scans.
VACUUM (ANALYZE) cities, city_names, hotels, room_types, rooms;
